/**
 * The crypto micro-benchmark behind the vault API numbers: each operation a vault or device
 * request costs, once through core/crypto as the product runs it today (pure JavaScript,
 * @noble) and once through WebCrypto (`globalThis.crypto.subtle`, OpenSSL in Node), with the
 * same keys and inputs, in one process, one operation at a time. WebCrypto keys are imported
 * once, outside the timed loop; each WebCrypto call is awaited, so its thread-pool hop is in the
 * time. CPU time is the whole process's (all threads), so work moved to the thread pool counts.
 *
 * The @noble column goes through core/crypto only (the bare ECDH is `p256EcdhSharedX`, the
 * primitive under its ECIES), as the architecture test requires.
 *
 *   npx tsx test/bench/vault-api/crypto.ts [--ms 1000]     (run.ts runs it too)
 */
import { parseArgs } from 'node:util';
import {
  p256EcdhSharedX,
  aesGcmDecrypt,
  aesGcmEncrypt,
  concatBytes,
  ecdsaSign,
  ecdsaVerify,
  eciesDecrypt,
  eciesEncrypt,
  generateAesKey,
  generateP256KeyPair,
  randomBytes,
  toBase64Url,
  utf8,
  type P256KeyPair,
} from '../../../core/crypto/index.ts';
import { markdownTable } from './table.ts';

export interface CryptoMeasurement {
  ops: number;
  /** Wall time per operation, one at a time. */
  msPerOp: number;
  /** CPU time of the whole process per operation. */
  cpuMsPerOp: number;
  opsPerSecond: number;
}

export interface CryptoRow {
  operation: string;
  noble: CryptoMeasurement;
  webcrypto: CryptoMeasurement;
}

const subtle = globalThis.crypto.subtle;
type Bytes = Uint8Array<ArrayBuffer>;
const bytes = (b: Uint8Array): Bytes => new Uint8Array(b);

async function measure(fn: () => unknown, ms: number): Promise<CryptoMeasurement> {
  const run = async (until: number) => {
    let ops = 0;
    while (performance.now() < until) {
      const r = fn();
      if (r instanceof Promise) await r;
      ops++;
    }
    return ops;
  };
  await run(performance.now() + Math.min(250, ms / 4)); // warm-up: JIT, noble's precomputed tables
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ops = await run(t0 + ms);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ops, msPerOp: wall / ops, cpuMsPerOp: (cpu.user + cpu.system) / 1000 / ops, opsPerSecond: (ops / wall) * 1000 };
}

function jwk(pair: P256KeyPair, withPrivate: boolean): JsonWebKey {
  const x = pair.publicKey.subarray(1, 33);
  const y = pair.publicKey.subarray(33, 65);
  return { kty: 'EC', crv: 'P-256', x: toBase64Url(x), y: toBase64Url(y), ...(withPrivate ? { d: toBase64Url(pair.privateKey) } : {}), ext: true };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const ECIES_INFO = utf8('postern/ecies/v1');

/** ECIES as core/crypto/ecies.ts defines it, built from WebCrypto: the same bytes on the wire. */
async function webEciesDecrypt(recipientKey: CryptoKey, recipientPublic: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
  const ephemeral = sealed.subarray(0, 65);
  const peer = await subtle.importKey('raw', bytes(ephemeral), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  const shared = await subtle.deriveBits({ name: 'ECDH', public: peer }, recipientKey, 256);
  const ikm = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  const aes = await subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: bytes(concatBytes(ephemeral, recipientPublic)), info: bytes(ECIES_INFO) }, ikm, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
  return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: bytes(sealed.subarray(65, 77)) }, aes, bytes(sealed.subarray(77))));
}

async function webEciesEncrypt(recipient: CryptoKey, recipientPublic: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const pair = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
  const ephemeral = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  const shared = await subtle.deriveBits({ name: 'ECDH', public: recipient }, pair.privateKey, 256);
  const ikm = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  const aes = await subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: bytes(concatBytes(ephemeral, recipientPublic)), info: bytes(ECIES_INFO) }, ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  const iv = randomBytes(12);
  return concatBytes(ephemeral, iv, new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: bytes(iv) }, aes, bytes(plaintext))));
}

/** Every row, `ms` of timed operations per row and implementation (after a short warm-up). */
export async function measureCrypto(ms: number, log: (msg: string) => void = () => {}): Promise<CryptoRow[]> {
  const alice = generateP256KeyPair();
  const bob = generateP256KeyPair();
  const ecdhPrivate = await subtle.importKey('jwk', jwk(alice, true), { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const ecdhPeer = await subtle.importKey('raw', bytes(bob.publicKey), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  const signKey = await subtle.importKey('jwk', jwk(alice, true), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const verifyKey = await subtle.importKey('raw', bytes(alice.publicKey), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const message = randomBytes(256); // about what a device request signs (operation, wrapped key, ciphertext)
  const signature = ecdsaSign(alice.privateKey, message);
  const aesRaw = generateAesKey();
  const aesKey = await subtle.importKey('raw', bytes(aesRaw), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const block = randomBytes(4096);
  const sealedBlock = aesGcmEncrypt(aesRaw, block);
  const transmissionKey = generateAesKey();
  const wrapped = eciesEncrypt(bob.publicKey, transmissionKey);
  const eciesPrivate = await subtle.importKey('jwk', jwk(bob, true), { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);

  // Both implementations must agree before their speed means anything.
  const nobleShared = p256EcdhSharedX(alice.privateKey, bob.publicKey);
  const webShared = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: ecdhPeer }, ecdhPrivate, 256));
  if (!same(nobleShared, webShared)) throw new Error('ECDH: noble and WebCrypto disagree');
  if (!(await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, verifyKey, bytes(signature), bytes(message)))) throw new Error('ECDSA: WebCrypto refuses the core/crypto signature');
  const webSignature = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signKey, bytes(message)));
  if (!ecdsaVerify(alice.publicKey, message, signature) || webSignature.length !== 64) throw new Error('ECDSA: unexpected signature');
  const opened = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: bytes(sealedBlock.subarray(0, 12)) }, aesKey, bytes(sealedBlock.subarray(12))));
  if (!same(opened, block)) throw new Error('AES-GCM: WebCrypto cannot open the core/crypto ciphertext');
  if (!same(await webEciesDecrypt(eciesPrivate, bob.publicKey, wrapped), transmissionKey)) throw new Error('ECIES: WebCrypto cannot open the core/crypto wrap');
  if (!same(eciesDecrypt(bob.privateKey, await webEciesEncrypt(ecdhPeer, bob.publicKey, transmissionKey)), transmissionKey)) throw new Error('ECIES: core/crypto cannot open the WebCrypto wrap');

  const cases: { operation: string; noble: () => unknown; webcrypto: () => Promise<unknown> }[] = [
    {
      operation: 'P-256 ECDH (shared secret)',
      noble: () => p256EcdhSharedX(alice.privateKey, bob.publicKey),
      webcrypto: () => subtle.deriveBits({ name: 'ECDH', public: ecdhPeer }, ecdhPrivate, 256),
    },
    {
      operation: 'ECDSA P-256 sign (256 B)',
      noble: () => ecdsaSign(alice.privateKey, message),
      webcrypto: () => subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signKey, bytes(message)),
    },
    {
      operation: 'ECDSA P-256 verify (256 B)',
      noble: () => ecdsaVerify(alice.publicKey, message, signature),
      webcrypto: () => subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, verifyKey, bytes(signature), bytes(message)),
    },
    {
      operation: 'AES-256-GCM encrypt 4 KiB',
      noble: () => aesGcmEncrypt(aesRaw, block),
      webcrypto: () => subtle.encrypt({ name: 'AES-GCM', iv: bytes(randomBytes(12)) }, aesKey, bytes(block)),
    },
    {
      operation: 'AES-256-GCM decrypt 4 KiB',
      noble: () => aesGcmDecrypt(aesRaw, sealedBlock),
      webcrypto: () => subtle.decrypt({ name: 'AES-GCM', iv: bytes(sealedBlock.subarray(0, 12)) }, aesKey, bytes(sealedBlock.subarray(12))),
    },
    {
      operation: 'ECIES unwrap (Router, per request)',
      noble: () => eciesDecrypt(bob.privateKey, wrapped),
      webcrypto: () => webEciesDecrypt(eciesPrivate, bob.publicKey, wrapped),
    },
    {
      operation: 'ECIES wrap (client, per request)',
      noble: () => eciesEncrypt(bob.publicKey, transmissionKey),
      webcrypto: () => webEciesEncrypt(ecdhPeer, bob.publicKey, transmissionKey),
    },
  ];
  const rows: CryptoRow[] = [];
  for (const c of cases) {
    log(`crypto: ${c.operation}`);
    rows.push({ operation: c.operation, noble: await measure(c.noble, ms), webcrypto: await measure(c.webcrypto, ms) });
  }
  return rows;
}

export function cryptoTable(rows: CryptoRow[]): string {
  const f = (v: number) => (v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const int = (v: number) => Math.round(v).toLocaleString('en-US');
  return markdownTable(
    ['operation', 'noble ms/op', 'WebCrypto ms/op', 'noble CPU ms/op', 'WebCrypto CPU ms/op', 'noble ops/s', 'WebCrypto ops/s', 'noble ÷ WebCrypto (CPU)'],
    rows.map((r) => [
      r.operation,
      f(r.noble.msPerOp),
      f(r.webcrypto.msPerOp),
      f(r.noble.cpuMsPerOp),
      f(r.webcrypto.cpuMsPerOp),
      int(r.noble.opsPerSecond),
      int(r.webcrypto.opsPerSecond),
      `${(r.noble.cpuMsPerOp / r.webcrypto.cpuMsPerOp).toFixed(1)}×`,
    ]),
  );
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { ms: { type: 'string', default: '1000' } } });
  const rows = await measureCrypto(Number(values.ms), (m) => console.error(m));
  console.log(`\nCrypto, one process, one operation at a time (Node ${process.version})\n\n${cryptoTable(rows)}`);
}
