/**
 * ECIES on P-256 (ephemeral-static ECDH + HKDF-SHA256 + AES-256-GCM).
 *
 *   e, E          = fresh ephemeral key pair (E uncompressed, 65 bytes)
 *   R             = recipient public key, uncompressed (65 bytes; 33-byte compressed input is
 *                   decompressed first, so both encodings give the same ciphertext key)
 *   z             = x-coordinate of e·R (32 bytes)
 *   k             = HKDF-SHA256(ikm = z, salt = E ‖ R, info = utf8("postern/ecies/v1") ‖ info, 32)
 *   sealed        = E ‖ aesGcmEncrypt(k, plaintext)          (E ‖ nonce(12) ‖ ct ‖ tag(16))
 *
 * The ECDH runs natively where it can (the recipient's private key and a repeatedly used
 * recipient public key imported once, the ephemeral key generated inside the implementation):
 * in node:crypto where the runtime has it, else in the platform's WebCrypto, else in @noble.
 * HKDF stays in JavaScript, where it is cheaper than a call out (docs/decisions/0008-native-crypto.md).
 *
 * Errors: malformed keys / ephemeral point → bad_request; anything that fails authentication
 * (tampering, wrong recipient, wrong info, truncation) → decrypt_failed.
 */
import { p256 } from '@noble/curves/nist.js';
import { PosternError } from '../errors.ts';
import { aesGcmDecrypt, aesGcmEncrypt, AES_GCM_NONCE_LENGTH, AES_GCM_TAG_LENGTH, AES_KEY_LENGTH } from './aes-gcm.ts';
import { concatBytes, utf8 } from './bytes.ts';
import { checkP256PrivateKey, P256_PUBLIC_KEY_LENGTH, p256UncompressedPublicKey } from './ecdsa.ts';
import { hkdfSha256 } from './kdf.ts';
import { nobleEcdhSharedX, nobleP256PublicKey } from './noble.ts';
import { nodeCrypto } from './node-crypto.ts';
import { cachedP256PublicKey, platformSubtle, webEcdhSharedX, webGenerateEcdhKeyPair } from './webcrypto.ts';

const ECIES_INFO_PREFIX = utf8('postern/ecies/v1');
const EMPTY = new Uint8Array(0);

/** Bytes ECIES adds to the plaintext: 65 + 12 + 16. */
export const ECIES_OVERHEAD = P256_PUBLIC_KEY_LENGTH + AES_GCM_NONCE_LENGTH + AES_GCM_TAG_LENGTH;

function eciesKey(sharedX: Uint8Array, ephemeralPublicKey: Uint8Array, recipientPublicKey: Uint8Array, info: Uint8Array | undefined): Uint8Array {
  const key = hkdfSha256(sharedX, concatBytes(ephemeralPublicKey, recipientPublicKey), concatBytes(ECIES_INFO_PREFIX, info ?? EMPTY), AES_KEY_LENGTH);
  sharedX.fill(0);
  return key;
}

/** P-256 ECDH: the 32-byte x-coordinate of privateKey·publicKey, both checked first (the primitive under ECIES, for benchmarks and cross-checks). */
export async function p256EcdhSharedX(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array> {
  checkP256PrivateKey(privateKey);
  const uncompressed = p256UncompressedPublicKey(publicKey);
  const node = nodeCrypto();
  if (node) return node.ecdhSharedX(privateKey, uncompressed, true);
  return platformSubtle() ? webEcdhSharedX(privateKey, uncompressed, true) : nobleEcdhSharedX(privateKey, uncompressed);
}

/** A fresh ephemeral key pair and the shared x-coordinate with the recipient. */
async function ephemeralAgreement(recipient: Uint8Array): Promise<{ ephemeralPublicKey: Uint8Array; sharedX: Uint8Array }> {
  const node = nodeCrypto();
  if (node) {
    const { publicKey, sharedX } = node.ephemeralEcdh(recipient);
    return { ephemeralPublicKey: publicKey, sharedX };
  }
  if (platformSubtle()) {
    const ephemeral = await webGenerateEcdhKeyPair();
    return { ephemeralPublicKey: ephemeral.publicKey, sharedX: await webEcdhSharedX(ephemeral.privateKey, recipient, true) };
  }
  const ephemeralPrivateKey = p256.utils.randomSecretKey();
  try {
    return { ephemeralPublicKey: nobleP256PublicKey(ephemeralPrivateKey), sharedX: nobleEcdhSharedX(ephemeralPrivateKey, recipient) };
  } finally {
    ephemeralPrivateKey.fill(0);
  }
}

export async function eciesEncrypt(recipientPublicKey: Uint8Array, plaintext: Uint8Array, info?: Uint8Array): Promise<Uint8Array> {
  // The native implementations check an uncompressed key's point themselves; anything else is
  // decompressed and checked here (bad_request for a malformed key either way).
  const uncompressed = recipientPublicKey instanceof Uint8Array && recipientPublicKey.length === P256_PUBLIC_KEY_LENGTH && recipientPublicKey[0] === 0x04;
  const native = nodeCrypto() !== null || platformSubtle() !== null;
  const recipient = uncompressed && native ? recipientPublicKey : p256UncompressedPublicKey(recipientPublicKey);
  const input = plaintext.slice(); // read now: the caller may wipe its key once this returns
  const { ephemeralPublicKey, sharedX } = await ephemeralAgreement(recipient);
  const key = eciesKey(sharedX, ephemeralPublicKey, recipient, info);
  try {
    return concatBytes(ephemeralPublicKey, await aesGcmEncrypt(key, input));
  } finally {
    key.fill(0);
    input.fill(0);
  }
}

export async function eciesDecrypt(recipientPrivateKey: Uint8Array, sealed: Uint8Array, info?: Uint8Array): Promise<Uint8Array> {
  checkP256PrivateKey(recipientPrivateKey);
  if (!(sealed instanceof Uint8Array) || sealed.length < ECIES_OVERHEAD) {
    throw new PosternError('decrypt_failed', 'ECIES ciphertext is too short');
  }
  const ephemeralPublicKey = sealed.subarray(0, P256_PUBLIC_KEY_LENGTH);
  if (ephemeralPublicKey[0] !== 0x04) {
    throw new PosternError('bad_request', 'invalid ECIES ephemeral public key: not uncompressed SEC1');
  }
  let sharedX: Uint8Array;
  let recipient: Uint8Array;
  const node = nodeCrypto();
  if (node) {
    // node:crypto's import checks the ephemeral point is on the curve (bad_request otherwise).
    recipient = node.publicKeyOf(recipientPrivateKey);
    sharedX = node.ecdhSharedX(recipientPrivateKey, ephemeralPublicKey, false);
  } else if (platformSubtle()) {
    // WebCrypto's import checks the ephemeral point is on the curve (bad_request otherwise).
    recipient = cachedP256PublicKey(recipientPrivateKey);
    sharedX = await webEcdhSharedX(recipientPrivateKey, ephemeralPublicKey, false);
  } else {
    p256UncompressedPublicKey(ephemeralPublicKey); // throws bad_request if not on the curve
    recipient = nobleP256PublicKey(recipientPrivateKey);
    sharedX = nobleEcdhSharedX(recipientPrivateKey, ephemeralPublicKey);
  }
  const key = eciesKey(sharedX, ephemeralPublicKey, recipient, info);
  try {
    return await aesGcmDecrypt(key, sealed.subarray(P256_PUBLIC_KEY_LENGTH));
  } finally {
    key.fill(0);
  }
}
