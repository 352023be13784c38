/**
 * The platform's WebCrypto (`globalThis.crypto.subtle`: OpenSSL in Node, BoringSSL in workerd
 * and Chrome, the browser's own elsewhere), and the keys imported into it once.
 *
 * Keys used many times are imported once (key-cache.ts). Where the runtime also has node:crypto,
 * node-crypto.ts runs instead: the same OpenSSL without WebCrypto's per-call promise and
 * thread-pool hop.
 *
 * Inputs are validated by the public modules (ecdsa.ts, ecies.ts, aes-gcm.ts); product code
 * calls those, never this file. Every function here needs `platformSubtle()` to be non-null.
 */
import { PosternError } from '../errors.ts';
import { concatBytes, toBase64Url } from './bytes.ts';
import { PKCS8_P256_PREFIX, PrivateKeyCache, PublicKeyCache } from './key-cache.ts';
import { nobleP256PublicKey } from './noble.ts';

type Buffer = Uint8Array<ArrayBuffer>;
type EcUse = 'ECDH' | 'ECDSA';

/** WebCrypto's SubtleCrypto, or null on a runtime without it (then core/crypto uses @noble). */
export function platformSubtle(): SubtleCrypto | null {
  return globalThis.crypto?.subtle ?? null;
}

function subtle(): SubtleCrypto {
  const s = platformSubtle();
  if (!s) throw new Error('WebCrypto is not available on this runtime');
  return s;
}

/** WebCrypto's typings want ArrayBuffer-backed views; ours always are (no SharedArrayBuffer). */
const view = (bytes: Uint8Array): Buffer => bytes as Buffer;

const ALGORITHM: Record<EcUse, EcKeyImportParams> = {
  ECDH: { name: 'ECDH', namedCurve: 'P-256' },
  ECDSA: { name: 'ECDSA', namedCurve: 'P-256' },
};
const ECDSA_SHA256: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

// ------------------------------------------------------------------ keys

const privateKeys = new PrivateKeyCache<Promise<CryptoKey>>();
const publicKeys = new PublicKeyCache<Promise<CryptoKey>>();
/** Public halves of private keys: in JavaScript one costs more than a signature (docs/decisions/0008-native-crypto.md). */
const derivedPublicKeys = new PrivateKeyCache<Uint8Array>();

/** The 65-byte public key of a (validated) private key, computed once per key. */
export function cachedP256PublicKey(privateKey: Uint8Array): Uint8Array {
  return derivedPublicKeys.get(privateKey, 'public', () => nobleP256PublicKey(privateKey));
}

/** PKCS #8 without the public key; a runtime that insists on it gets a JWK with it instead. */
function importPrivateKey(privateKey: Uint8Array, use: EcUse): Promise<CryptoKey> {
  return privateKeys.get(privateKey, use, () => {
    const usages: KeyUsage[] = use === 'ECDH' ? ['deriveBits'] : ['sign'];
    const pkcs8 = concatBytes(PKCS8_P256_PREFIX, privateKey);
    return subtle()
      .importKey('pkcs8', view(pkcs8), ALGORITHM[use], false, usages)
      .catch(() => {
        const publicKey = cachedP256PublicKey(privateKey);
        const jwk: JsonWebKey = {
          kty: 'EC',
          crv: 'P-256',
          d: toBase64Url(privateKey),
          x: toBase64Url(publicKey.subarray(1, 33)),
          y: toBase64Url(publicKey.subarray(33, 65)),
          ext: false,
        };
        return subtle().importKey('jwk', jwk, ALGORITHM[use], false, usages);
      })
      .finally(() => pkcs8.fill(0));
  });
}

/**
 * Imports a 65-byte uncompressed public key; WebCrypto checks that the point is on the curve.
 * Rejects with bad_request otherwise.
 */
function importPublicKey(publicKey: Uint8Array, use: EcUse, cache: boolean): Promise<CryptoKey> {
  return publicKeys.get(publicKey, use, cache, () =>
    subtle()
      .importKey('raw', view(publicKey), ALGORITHM[use], true, use === 'ECDH' ? [] : ['verify'])
      .catch(() => {
        throw new PosternError('bad_request', 'invalid P-256 public key: not a point on the curve');
      }),
  );
}

// ------------------------------------------------------------------ operations

/** An ephemeral ECDH key pair whose private half never leaves WebCrypto. */
export async function webGenerateEcdhKeyPair(): Promise<{ privateKey: CryptoKey; publicKey: Uint8Array }> {
  const pair = await subtle().generateKey(ALGORITHM.ECDH, false, ['deriveBits']);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle().exportKey('raw', pair.publicKey)) };
}

/**
 * x-coordinate of privateKey·publicKey. `publicKey` is 65 bytes uncompressed; `cachePublicKey`
 * says whether it will be seen again (a recipient's key) or not (an ephemeral point).
 */
export async function webEcdhSharedX(privateKey: Uint8Array | CryptoKey, publicKey: Uint8Array, cachePublicKey: boolean): Promise<Uint8Array> {
  const [priv, pub] = await Promise.all([
    privateKey instanceof Uint8Array ? importPrivateKey(privateKey, 'ECDH') : privateKey,
    importPublicKey(publicKey, 'ECDH', cachePublicKey),
  ]);
  return new Uint8Array(await subtle().deriveBits({ name: 'ECDH', public: pub }, priv, 256));
}

/** r ‖ s over SHA-256(message) (IEEE P1363, 64 bytes); S is NOT normalised, k is random. */
export async function webEcdsaSign(privateKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const key = await importPrivateKey(privateKey, 'ECDSA');
  return new Uint8Array(await subtle().sign(ECDSA_SHA256, key, view(message)));
}

/** Plain ECDSA verify (accepts either S); false for a key that is not on the curve. */
export async function webEcdsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  let key: CryptoKey;
  try {
    key = await importPublicKey(publicKey, 'ECDSA', true);
  } catch {
    return false;
  }
  return subtle().verify(ECDSA_SHA256, key, view(signature), view(message));
}

function importAesKey(key: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  // Raw AES imports cost a few microseconds: not worth a cache holding session keys.
  return subtle().importKey('raw', view(key), 'AES-GCM', false, [usage]);
}

/** ciphertext ‖ tag. */
export async function webAesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array | undefined): Promise<Uint8Array> {
  const params: AesGcmParams = { name: 'AES-GCM', iv: view(nonce), ...(aad ? { additionalData: view(aad) } : {}) };
  return new Uint8Array(await subtle().encrypt(params, await importAesKey(key, 'encrypt'), view(plaintext)));
}

/** Opens ciphertext ‖ tag; rejects (with the platform's error) when authentication fails. */
export async function webAesGcmOpen(key: Uint8Array, nonce: Uint8Array, body: Uint8Array, aad: Uint8Array | undefined): Promise<Uint8Array> {
  const params: AesGcmParams = { name: 'AES-GCM', iv: view(nonce), ...(aad ? { additionalData: view(aad) } : {}) };
  return new Uint8Array(await subtle().decrypt(params, await importAesKey(key, 'decrypt'), view(body)));
}
