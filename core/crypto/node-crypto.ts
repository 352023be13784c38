/**
 * The runtime's `node:crypto`, where it has one (Node; also Deno and Bun, which implement it):
 * OpenSSL called synchronously. It is the same native code WebCrypto reaches in Node, without
 * WebCrypto's promise, argument normalisation and hop to the thread pool, which cost more than
 * the work itself for everything a request does (measured in docs/decisions/0008-native-crypto.md).
 *
 * core/ runs in browsers and workerd too, so it names no runtime module in an import: the module
 * is asked for with `process.getBuiltinModule`, a capability probe that is simply absent
 * elsewhere. On first use a self-test runs published vectors through it (GCM, RFC 5903 ECDH,
 * an RFC 6979 signature, an off-curve point); a runtime whose node:crypto is missing a piece or
 * answers differently is not used, and core/crypto falls back to WebCrypto, then @noble.
 *
 * Inputs are validated by the public modules (ecdsa.ts, ecies.ts, aes-gcm.ts); product code
 * calls those, never this file. Outputs are plain Uint8Arrays of their own (never a Buffer, whose
 * `slice` shares memory and whose small allocations share a pool).
 */
import { PosternError } from '../errors.ts';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from './bytes.ts';
import { PKCS8_P256_PREFIX, PrivateKeyCache, PublicKeyCache, SPKI_P256_PREFIX } from './key-cache.ts';

/** The part of node:crypto used here (core/ imports no runtime's types either). */
interface KeyObjectLike {
  readonly type: string;
  export(options: { format: 'der'; type: 'spki' }): Uint8Array;
}
interface NodeCryptoModule {
  createCipheriv(
    algorithm: 'aes-256-gcm',
    key: Uint8Array,
    iv: Uint8Array,
  ): {
    setAAD(aad: Uint8Array): unknown;
    update(data: Uint8Array): Uint8Array;
    final(): Uint8Array;
    getAuthTag(): Uint8Array;
  };
  createDecipheriv(
    algorithm: 'aes-256-gcm',
    key: Uint8Array,
    iv: Uint8Array,
  ): {
    setAAD(aad: Uint8Array): unknown;
    setAuthTag(tag: Uint8Array): unknown;
    update(data: Uint8Array): Uint8Array;
    final(): Uint8Array;
  };
  createPrivateKey(options: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): KeyObjectLike;
  createPublicKey(options: { key: Uint8Array; format: 'der'; type: 'spki' } | KeyObjectLike): KeyObjectLike;
  sign(algorithm: 'sha256', data: Uint8Array, key: { key: KeyObjectLike; dsaEncoding: 'ieee-p1363' }): Uint8Array;
  verify(algorithm: 'sha256', data: Uint8Array, key: { key: KeyObjectLike; dsaEncoding: 'ieee-p1363' }, signature: Uint8Array): boolean;
  diffieHellman(options: { privateKey: KeyObjectLike; publicKey: KeyObjectLike }): Uint8Array;
  createECDH(curve: 'prime256v1'): { generateKeys(): Uint8Array; computeSecret(publicKey: Uint8Array): Uint8Array };
}

/** Synchronous P-256 and AES-256-GCM on node:crypto. */
export interface NodeCryptoBackend {
  /** ciphertext ‖ tag. */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array | undefined): Uint8Array;
  /** Opens ciphertext ‖ tag; throws when authentication fails. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, body: Uint8Array, aad: Uint8Array | undefined): Uint8Array;
  /** r ‖ s over SHA-256(message) (IEEE P1363); S is NOT normalised, k is random. */
  ecdsaSign(privateKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Plain verify (either S); false for a key that is not on the curve. */
  ecdsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** x of privateKey·publicKey; bad_request for a point not on the curve. `cachePublicKey` as in webcrypto.ts. */
  ecdhSharedX(privateKey: Uint8Array, publicKey: Uint8Array, cachePublicKey: boolean): Uint8Array;
  /** A fresh ephemeral key pair used once, for ECIES: its public key and the shared x with `recipient`. */
  ephemeralEcdh(recipient: Uint8Array): { publicKey: Uint8Array; sharedX: Uint8Array };
  /** The 65-byte public key of a (valid) private key. */
  publicKeyOf(privateKey: Uint8Array): Uint8Array;
}

const TAG_LENGTH = 16;

/** A copy in a plain Uint8Array of its own. */
function own(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function backendOver(nc: NodeCryptoModule): NodeCryptoBackend {
  const privateKeys = new PrivateKeyCache<KeyObjectLike>();
  const publicKeys = new PublicKeyCache<KeyObjectLike>();
  const derivedPublicKeys = new PrivateKeyCache<Uint8Array>();

  const privateKeyObject = (privateKey: Uint8Array) =>
    privateKeys.get(privateKey, 'P-256', () => {
      const pkcs8 = concatBytes(PKCS8_P256_PREFIX, privateKey);
      try {
        return nc.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      } finally {
        pkcs8.fill(0);
      }
    });

  const publicKeyObject = (publicKey: Uint8Array, cache: boolean) =>
    publicKeys.get(publicKey, 'P-256', cache, () => {
      try {
        // OpenSSL refuses a point that is not on the curve when decoding the key.
        return nc.createPublicKey({ key: concatBytes(SPKI_P256_PREFIX, publicKey), format: 'der', type: 'spki' });
      } catch {
        throw new PosternError('bad_request', 'invalid P-256 public key: not a point on the curve');
      }
    });

  return {
    aesGcmSeal(key, nonce, plaintext, aad) {
      const cipher = nc.createCipheriv('aes-256-gcm', key, nonce);
      if (aad) cipher.setAAD(aad);
      const body = cipher.update(plaintext);
      const last = cipher.final();
      const tag = cipher.getAuthTag();
      const out = new Uint8Array(body.length + last.length + TAG_LENGTH);
      out.set(body);
      out.set(last, body.length);
      out.set(tag, body.length + last.length);
      return out;
    },
    aesGcmOpen(key, nonce, body, aad) {
      if (body.length < TAG_LENGTH) throw new Error('ciphertext is shorter than the tag');
      const decipher = nc.createDecipheriv('aes-256-gcm', key, nonce);
      if (aad) decipher.setAAD(aad);
      decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
      const plain = decipher.update(body.subarray(0, body.length - TAG_LENGTH));
      const last = decipher.final(); // throws when the tag does not authenticate
      const out = new Uint8Array(plain.length + last.length);
      out.set(plain);
      out.set(last, plain.length);
      return out;
    },
    ecdsaSign(privateKey, message) {
      return own(nc.sign('sha256', message, { key: privateKeyObject(privateKey), dsaEncoding: 'ieee-p1363' }));
    },
    ecdsaVerify(publicKey, message, signature) {
      let key: KeyObjectLike;
      try {
        key = publicKeyObject(publicKey, true);
      } catch {
        return false;
      }
      return nc.verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
    },
    ecdhSharedX(privateKey, publicKey, cachePublicKey) {
      const publicKeyObj = publicKeyObject(publicKey, cachePublicKey);
      return own(nc.diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObj }));
    },
    ephemeralEcdh(recipient) {
      const ecdh = nc.createECDH('prime256v1');
      const publicKey = own(ecdh.generateKeys());
      let sharedX: Uint8Array;
      try {
        sharedX = own(ecdh.computeSecret(recipient));
      } catch {
        throw new PosternError('bad_request', 'invalid P-256 public key: not a point on the curve');
      }
      return { publicKey, sharedX };
    },
    publicKeyOf(privateKey) {
      return derivedPublicKeys.get(privateKey, 'public', () => {
        const spki = nc.createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' });
        return own(spki.subarray(spki.length - 65));
      });
    },
  };
}

// ------------------------------------------------------------------ self-test

/** Published answers the backend must give before it is used (the same vectors as implementations.test.ts). */
function passesSelfTest(backend: NodeCryptoBackend): boolean {
  try {
    // GCM spec test case 16: AES-256, 96-bit IV, 60 bytes with AAD.
    const key = fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
    const iv = fromHex('cafebabefacedbaddecaf888');
    const aad = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const plaintext = fromHex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
    const sealed = backend.aesGcmSeal(key, iv, plaintext, aad);
    const expected =
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
      '76fc6ece0f4e1768cddf8853bb2d551b';
    if (toHex(sealed) !== expected || !equalBytes(backend.aesGcmOpen(key, iv, sealed, aad), plaintext)) return false;
    const tampered = sealed.slice();
    tampered[0]! ^= 1;
    if (opens(() => backend.aesGcmOpen(key, iv, tampered, aad))) return false;

    // RFC 5903 §8.1: the shared x, and each side's public key.
    const i = fromHex('c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433');
    const rPub = fromHex('04d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf6356fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab');
    const iPub = '04dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c37725811805271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3';
    if (toHex(backend.ecdhSharedX(i, rPub, false)) !== 'd6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de') return false;
    if (toHex(backend.publicKeyOf(i.slice())) !== iPub) return false;

    // RFC 6979 A.2.5: the published signature of "test" verifies, a changed message does not,
    // and a fresh signature verifies.
    const x = fromHex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721');
    const pub = fromHex('0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299');
    const signature = fromHex(
      'f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083',
    );
    if (!backend.ecdsaVerify(pub, utf8('test'), signature) || backend.ecdsaVerify(pub, utf8('test.'), signature)) return false;
    if (!backend.ecdsaVerify(pub, utf8('sample'), backend.ecdsaSign(x, utf8('sample')))) return false;

    // A point off the curve (y + 1) is refused, not used.
    const offCurve = pub.slice();
    offCurve[64]! ^= 1;
    if (backend.ecdsaVerify(offCurve, utf8('test'), signature)) return false;
    if (opens(() => backend.ecdhSharedX(i, offCurve, false))) return false;
    return true;
  } catch {
    return false;
  }
}

function opens(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ detection

let detected: NodeCryptoBackend | null | undefined;
let disabled = false;

function detect(): NodeCryptoBackend | null {
  const probe = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof probe !== 'function') return null;
  let nc: Partial<NodeCryptoModule> | undefined;
  try {
    nc = probe('node:crypto') as Partial<NodeCryptoModule> | undefined;
  } catch {
    return null;
  }
  const needed: (keyof NodeCryptoModule)[] = [
    'createCipheriv',
    'createDecipheriv',
    'createPrivateKey',
    'createPublicKey',
    'sign',
    'verify',
    'diffieHellman',
    'createECDH',
  ];
  if (!nc || needed.some((name) => typeof nc[name] !== 'function')) return null;
  const backend = backendOver(nc as NodeCryptoModule);
  return passesSelfTest(backend) ? backend : null;
}

/** The node:crypto back end, or null where the runtime has none that passes the self-test. */
export function nodeCrypto(): NodeCryptoBackend | null {
  if (disabled) return null;
  if (detected === undefined) detected = detect();
  return detected;
}

/**
 * For tests and benchmarks: hide the node:crypto back end (as on a browser or workerd), or bring
 * it back. Nothing in the product calls this.
 */
export function hideNodeCrypto(hidden: boolean): void {
  disabled = hidden;
}
