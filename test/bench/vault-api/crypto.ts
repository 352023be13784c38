/**
 * The crypto micro-benchmark behind the vault API numbers: each operation a vault or device
 * request costs, four ways, with the same keys and inputs, in one process, one operation at a
 * time:
 *   noble        the pure-JavaScript reference (core/crypto/noble.ts, @noble)
 *   WebCrypto    the platform's (core/crypto/webcrypto.ts: OpenSSL in Node, keys imported once;
 *                HMAC and HKDF, which core/crypto does not send there, straight through
 *                crypto.subtle with the key imported per call, as a one-off use would)
 *   node:crypto  the runtime's node:crypto, synchronous (core/crypto/node-crypto.ts; keys imported
 *                once); "-" where core/crypto does not use it
 *   product      core/crypto's public function, which picks one
 * Each WebCrypto call is awaited, so its thread-pool hop is in the time. CPU time is the whole
 * process's (all threads), so work moved to the thread pool counts. This table is the measured
 * reason for core/crypto's choices (docs/decisions/0008-native-crypto.md).
 *
 *   npx tsx test/bench/vault-api/crypto.ts [--ms 1000]     (run.ts runs it too)
 */
import { parseArgs } from 'node:util';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  concatBytes,
  ecdsaNormalizeSignature,
  ecdsaSign,
  ecdsaVerify,
  eciesDecrypt,
  eciesEncrypt,
  generateAesKey,
  generateP256KeyPair,
  hkdfSha256,
  hmacSha256,
  p256EcdhSharedX,
  randomBytes,
  utf8,
} from '../../../core/crypto/index.ts';
import { nobleAesGcmOpen, nobleAesGcmSeal, nobleEcdhSharedX, nobleEcdsaSign, nobleEcdsaVerify, nobleP256PublicKey } from '../../../core/crypto/noble.ts';
import { nodeCrypto } from '../../../core/crypto/node-crypto.ts';
import { webAesGcmOpen, webAesGcmSeal, webEcdhSharedX, webEcdsaSign, webEcdsaVerify, webGenerateEcdhKeyPair } from '../../../core/crypto/webcrypto.ts';
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
  nodeCrypto: CryptoMeasurement | null;
  product: CryptoMeasurement;
  /** Which implementation core/crypto uses for this operation here (ECIES: node:crypto's ECDH, noble's HKDF). */
  productUses: 'noble' | 'WebCrypto' | 'node:crypto' | 'node:crypto + noble';
}

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

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const ECIES_INFO = utf8('postern/ecies/v1');
const eciesKey = (shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array) => hkdfSha256(shared, concatBytes(ephemeral, recipient), ECIES_INFO, 32);

/** ECIES as core/crypto/ecies.ts defines it, from the noble primitives only. */
function nobleEciesDecrypt(recipientPrivate: Uint8Array, recipientPublic: Uint8Array, sealed: Uint8Array): Uint8Array {
  const ephemeral = sealed.subarray(0, 65);
  const key = eciesKey(nobleEcdhSharedX(recipientPrivate, ephemeral), ephemeral, recipientPublic);
  return nobleAesGcmOpen(key, sealed.subarray(65, 77), sealed.subarray(77), undefined);
}

function nobleEciesEncrypt(recipientPublic: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const ephemeral = generateP256KeyPair();
  const key = eciesKey(nobleEcdhSharedX(ephemeral.privateKey, recipientPublic), ephemeral.publicKey, recipientPublic);
  const iv = randomBytes(12);
  return concatBytes(ephemeral.publicKey, iv, nobleAesGcmSeal(key, iv, plaintext, undefined));
}

/** The same, from the WebCrypto primitives only. */
async function webEciesDecrypt(recipientPrivate: Uint8Array, recipientPublic: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
  const ephemeral = sealed.subarray(0, 65);
  const key = eciesKey(await webEcdhSharedX(recipientPrivate, ephemeral, false), ephemeral, recipientPublic);
  return webAesGcmOpen(key, sealed.subarray(65, 77), sealed.subarray(77), undefined);
}

async function webEciesEncrypt(recipientPublic: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const ephemeral = await webGenerateEcdhKeyPair();
  const key = eciesKey(await webEcdhSharedX(ephemeral.privateKey, recipientPublic, true), ephemeral.publicKey, recipientPublic);
  const iv = randomBytes(12);
  return concatBytes(ephemeral.publicKey, iv, await webAesGcmSeal(key, iv, plaintext, undefined));
}

/** The same, from the node:crypto primitives only. */
function nodeEciesDecrypt(recipientPrivate: Uint8Array, recipientPublic: Uint8Array, sealed: Uint8Array): Uint8Array {
  const ephemeral = sealed.subarray(0, 65);
  const key = eciesKey(node().ecdhSharedX(recipientPrivate, ephemeral, false), ephemeral, recipientPublic);
  return node().aesGcmOpen(key, sealed.subarray(65, 77), sealed.subarray(77), undefined);
}

function nodeEciesEncrypt(recipientPublic: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const ephemeral = node().ephemeralEcdh(recipientPublic);
  const key = eciesKey(ephemeral.sharedX, ephemeral.publicKey, recipientPublic);
  const iv = randomBytes(12);
  return concatBytes(ephemeral.publicKey, iv, node().aesGcmSeal(key, iv, plaintext, undefined));
}

function node() {
  const backend = nodeCrypto();
  if (!backend) throw new Error('this runtime has no node:crypto that passes core/crypto’s self-test');
  return backend;
}

const subtle = globalThis.crypto.subtle;
type Bytes = Uint8Array<ArrayBuffer>;
const view = (b: Uint8Array): Bytes => b as Bytes;

async function webHmacSha256(key: Uint8Array, message: Uint8Array): Promise<ArrayBuffer> {
  const k = await subtle.importKey('raw', view(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return subtle.sign('HMAC', k, view(message));
}

async function webHkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Promise<ArrayBuffer> {
  const k = await subtle.importKey('raw', view(ikm), 'HKDF', false, ['deriveBits']);
  return subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: view(salt), info: view(info) }, k, 256);
}

/** Every row, `ms` of timed operations per row and implementation (after a short warm-up). */
export async function measureCrypto(ms: number, log: (msg: string) => void = () => {}): Promise<CryptoRow[]> {
  const alice = generateP256KeyPair();
  const bob = generateP256KeyPair();
  const message = randomBytes(256); // about what a device request signs (operation, wrapped key, ciphertext)
  const nobleSignature = nobleEcdsaSign(alice.privateKey, message);
  const aesRaw = generateAesKey();
  const iv = randomBytes(12);
  const small = randomBytes(256); // a vault request or a short answer
  const block = randomBytes(4096); // a record list
  const large = randomBytes(64 * 1024); // a file
  const sealedSmall = await aesGcmEncrypt(aesRaw, small);
  const sealedBlock = await aesGcmEncrypt(aesRaw, block);
  const transmissionKey = generateAesKey();
  const wrapped = await eciesEncrypt(bob.publicKey, transmissionKey);
  const hkdfSalt = randomBytes(32);

  // The implementations must agree before their speed means anything.
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`${what}: the implementations disagree`);
  };
  check(same(nobleEcdhSharedX(alice.privateKey, bob.publicKey), await webEcdhSharedX(alice.privateKey, bob.publicKey, true)), 'ECDH');
  check(await webEcdsaVerify(alice.publicKey, message, nobleSignature), 'ECDSA (WebCrypto verifying noble)');
  check(
    nobleEcdsaVerify(alice.publicKey, message, ecdsaNormalizeSignature(await webEcdsaSign(alice.privateKey, message))),
    'ECDSA (noble verifying WebCrypto)',
  );
  check(same(nobleAesGcmSeal(aesRaw, iv, block, undefined), await webAesGcmSeal(aesRaw, iv, block, undefined)), 'AES-GCM');
  check(same(nobleEciesDecrypt(bob.privateKey, bob.publicKey, wrapped), transmissionKey), 'ECIES (noble opening the product wrap)');
  check(same(await webEciesDecrypt(bob.privateKey, bob.publicKey, wrapped), transmissionKey), 'ECIES (WebCrypto opening the product wrap)');
  check(same(await eciesDecrypt(bob.privateKey, nobleEciesEncrypt(bob.publicKey, transmissionKey)), transmissionKey), 'ECIES (product opening a noble wrap)');
  check(same(hmacSha256(aesRaw, message), new Uint8Array(await webHmacSha256(aesRaw, message))), 'HMAC-SHA256');
  check(same(hkdfSha256(aesRaw, hkdfSalt, ECIES_INFO, 32), new Uint8Array(await webHkdfSha256(aesRaw, hkdfSalt, ECIES_INFO))), 'HKDF-SHA256');
  check(nobleP256PublicKey(alice.privateKey).length === 65, 'P-256 public key');
  check(same(nobleEcdhSharedX(alice.privateKey, bob.publicKey), node().ecdhSharedX(alice.privateKey, bob.publicKey, true)), 'ECDH (node:crypto)');
  check(node().ecdsaVerify(alice.publicKey, message, nobleSignature), 'ECDSA (node:crypto verifying noble)');
  check(same(nobleAesGcmSeal(aesRaw, iv, block, undefined), node().aesGcmSeal(aesRaw, iv, block, undefined)), 'AES-GCM (node:crypto)');
  check(same(nodeEciesDecrypt(bob.privateKey, bob.publicKey, wrapped), transmissionKey), 'ECIES (node:crypto opening the product wrap)');

  const cases: {
    operation: string;
    productUses: CryptoRow['productUses'];
    noble: () => unknown;
    webcrypto: () => Promise<unknown>;
    nodeCrypto?: () => unknown;
    product: () => Promise<unknown> | unknown;
  }[] = [
    {
      operation: 'P-256 ECDH (shared secret)',
      productUses: 'node:crypto',
      noble: () => nobleEcdhSharedX(alice.privateKey, bob.publicKey),
      webcrypto: () => webEcdhSharedX(alice.privateKey, bob.publicKey, true),
      nodeCrypto: () => node().ecdhSharedX(alice.privateKey, bob.publicKey, true),
      product: () => p256EcdhSharedX(alice.privateKey, bob.publicKey),
    },
    {
      operation: 'ECDSA P-256 sign (256 B)',
      productUses: 'node:crypto',
      noble: () => nobleEcdsaSign(alice.privateKey, message),
      webcrypto: () => webEcdsaSign(alice.privateKey, message),
      nodeCrypto: () => node().ecdsaSign(alice.privateKey, message),
      product: () => ecdsaSign(alice.privateKey, message),
    },
    {
      operation: 'ECDSA P-256 verify (256 B)',
      productUses: 'node:crypto',
      noble: () => nobleEcdsaVerify(alice.publicKey, message, nobleSignature),
      webcrypto: () => webEcdsaVerify(alice.publicKey, message, nobleSignature),
      nodeCrypto: () => node().ecdsaVerify(alice.publicKey, message, nobleSignature),
      product: () => ecdsaVerify(alice.publicKey, message, nobleSignature),
    },
    {
      operation: 'AES-256-GCM encrypt 256 B',
      productUses: 'node:crypto',
      noble: () => nobleAesGcmSeal(aesRaw, iv, small, undefined),
      webcrypto: () => webAesGcmSeal(aesRaw, iv, small, undefined),
      nodeCrypto: () => node().aesGcmSeal(aesRaw, iv, small, undefined),
      product: () => aesGcmEncrypt(aesRaw, small),
    },
    {
      operation: 'AES-256-GCM decrypt 256 B',
      productUses: 'node:crypto',
      noble: () => nobleAesGcmOpen(aesRaw, sealedSmall.subarray(0, 12), sealedSmall.subarray(12), undefined),
      webcrypto: () => webAesGcmOpen(aesRaw, sealedSmall.subarray(0, 12), sealedSmall.subarray(12), undefined),
      nodeCrypto: () => node().aesGcmOpen(aesRaw, sealedSmall.subarray(0, 12), sealedSmall.subarray(12), undefined),
      product: () => aesGcmDecrypt(aesRaw, sealedSmall),
    },
    {
      operation: 'AES-256-GCM encrypt 4 KiB',
      productUses: 'node:crypto',
      noble: () => nobleAesGcmSeal(aesRaw, iv, block, undefined),
      webcrypto: () => webAesGcmSeal(aesRaw, iv, block, undefined),
      nodeCrypto: () => node().aesGcmSeal(aesRaw, iv, block, undefined),
      product: () => aesGcmEncrypt(aesRaw, block),
    },
    {
      operation: 'AES-256-GCM decrypt 4 KiB',
      productUses: 'node:crypto',
      noble: () => nobleAesGcmOpen(aesRaw, sealedBlock.subarray(0, 12), sealedBlock.subarray(12), undefined),
      webcrypto: () => webAesGcmOpen(aesRaw, sealedBlock.subarray(0, 12), sealedBlock.subarray(12), undefined),
      nodeCrypto: () => node().aesGcmOpen(aesRaw, sealedBlock.subarray(0, 12), sealedBlock.subarray(12), undefined),
      product: () => aesGcmDecrypt(aesRaw, sealedBlock),
    },
    {
      operation: 'AES-256-GCM encrypt 64 KiB',
      productUses: 'node:crypto',
      noble: () => nobleAesGcmSeal(aesRaw, iv, large, undefined),
      webcrypto: () => webAesGcmSeal(aesRaw, iv, large, undefined),
      nodeCrypto: () => node().aesGcmSeal(aesRaw, iv, large, undefined),
      product: () => aesGcmEncrypt(aesRaw, large),
    },
    {
      operation: 'HMAC-SHA256 (256 B)',
      productUses: 'noble',
      noble: () => hmacSha256(aesRaw, message),
      webcrypto: () => webHmacSha256(aesRaw, message),
      product: () => hmacSha256(aesRaw, message),
    },
    {
      operation: 'HKDF-SHA256 (32 B out)',
      productUses: 'noble',
      noble: () => hkdfSha256(aesRaw, hkdfSalt, ECIES_INFO, 32),
      webcrypto: () => webHkdfSha256(aesRaw, hkdfSalt, ECIES_INFO),
      product: () => hkdfSha256(aesRaw, hkdfSalt, ECIES_INFO, 32),
    },
    {
      operation: 'ECIES unwrap (Router, per new key)',
      productUses: 'node:crypto + noble',
      noble: () => nobleEciesDecrypt(bob.privateKey, bob.publicKey, wrapped),
      webcrypto: () => webEciesDecrypt(bob.privateKey, bob.publicKey, wrapped),
      nodeCrypto: () => nodeEciesDecrypt(bob.privateKey, bob.publicKey, wrapped),
      product: () => eciesDecrypt(bob.privateKey, wrapped),
    },
    {
      operation: 'ECIES wrap (client, per new key)',
      productUses: 'node:crypto + noble',
      noble: () => nobleEciesEncrypt(bob.publicKey, transmissionKey),
      webcrypto: () => webEciesEncrypt(bob.publicKey, transmissionKey),
      nodeCrypto: () => nodeEciesEncrypt(bob.publicKey, transmissionKey),
      product: () => eciesEncrypt(bob.publicKey, transmissionKey),
    },
  ];
  const rows: CryptoRow[] = [];
  for (const c of cases) {
    log(`crypto: ${c.operation}`);
    rows.push({
      operation: c.operation,
      productUses: c.productUses,
      noble: await measure(c.noble, ms),
      webcrypto: await measure(c.webcrypto, ms),
      nodeCrypto: c.nodeCrypto ? await measure(c.nodeCrypto, ms) : null,
      product: await measure(c.product, ms),
    });
  }
  return rows;
}

export function cryptoTable(rows: CryptoRow[]): string {
  const f = (v: number) => (v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const int = (v: number) => Math.round(v).toLocaleString('en-US');
  return markdownTable(
    ['operation', 'noble CPU ms/op', 'WebCrypto CPU ms/op', 'node:crypto CPU ms/op', 'product uses', 'product CPU ms/op', 'product ms/op', 'product ops/s'],
    rows.map((r) => [
      r.operation,
      f(r.noble.cpuMsPerOp),
      f(r.webcrypto.cpuMsPerOp),
      r.nodeCrypto ? f(r.nodeCrypto.cpuMsPerOp) : '-',
      r.productUses,
      f(r.product.cpuMsPerOp),
      f(r.product.msPerOp),
      int(r.product.opsPerSecond),
    ]),
  );
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { ms: { type: 'string', default: '1000' } } });
  const rows = await measureCrypto(Number(values.ms), (m) => console.error(m));
  console.log(`\nCrypto, one process, one operation at a time (Node ${process.version})\n\n${cryptoTable(rows)}`);
}
