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
 * Errors: malformed keys / ephemeral point → bad_request; anything that fails authentication
 * (tampering, wrong recipient, wrong info, truncation) → decrypt_failed.
 */
import { p256 } from '@noble/curves/nist.js';
import { PosternError } from '../errors.ts';
import { aesGcmDecrypt, aesGcmEncrypt, AES_GCM_NONCE_LENGTH, AES_GCM_TAG_LENGTH, AES_KEY_LENGTH } from './aes-gcm.ts';
import { concatBytes, utf8 } from './bytes.ts';
import { checkP256PrivateKey, P256_PUBLIC_KEY_LENGTH, p256UncompressedPublicKey } from './ecdsa.ts';
import { hkdfSha256 } from './kdf.ts';

const ECIES_INFO_PREFIX = utf8('postern/ecies/v1');
const EMPTY = new Uint8Array(0);

/** Bytes ECIES adds to the plaintext: 65 + 12 + 16. */
export const ECIES_OVERHEAD = P256_PUBLIC_KEY_LENGTH + AES_GCM_NONCE_LENGTH + AES_GCM_TAG_LENGTH;

function eciesKey(sharedX: Uint8Array, ephemeralPublicKey: Uint8Array, recipientPublicKey: Uint8Array, info: Uint8Array | undefined): Uint8Array {
  return hkdfSha256(
    sharedX,
    concatBytes(ephemeralPublicKey, recipientPublicKey),
    concatBytes(ECIES_INFO_PREFIX, info ?? EMPTY),
    AES_KEY_LENGTH,
  );
}

/** x-coordinate of privateKey·publicKey (publicKey already validated). */
function ecdhX(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  // Compressed output = 0x02/0x03 ‖ X.
  return p256.getSharedSecret(privateKey, publicKey, true).subarray(1);
}

/** P-256 ECDH: the 32-byte x-coordinate of privateKey·publicKey, both checked first (the primitive under ECIES, for benchmarks and cross-checks). */
export function p256EcdhSharedX(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkP256PrivateKey(privateKey);
  return ecdhX(privateKey, p256UncompressedPublicKey(publicKey));
}

export function eciesEncrypt(recipientPublicKey: Uint8Array, plaintext: Uint8Array, info?: Uint8Array): Uint8Array {
  const recipient = p256UncompressedPublicKey(recipientPublicKey);
  const ephemeralPrivateKey = p256.utils.randomSecretKey();
  try {
    const ephemeralPublicKey = p256.getPublicKey(ephemeralPrivateKey, false);
    const sharedX = ecdhX(ephemeralPrivateKey, recipient);
    const key = eciesKey(sharedX, ephemeralPublicKey, recipient, info);
    sharedX.fill(0);
    try {
      return concatBytes(ephemeralPublicKey, aesGcmEncrypt(key, plaintext));
    } finally {
      key.fill(0);
    }
  } finally {
    ephemeralPrivateKey.fill(0);
  }
}

export function eciesDecrypt(recipientPrivateKey: Uint8Array, sealed: Uint8Array, info?: Uint8Array): Uint8Array {
  checkP256PrivateKey(recipientPrivateKey);
  if (!(sealed instanceof Uint8Array) || sealed.length < ECIES_OVERHEAD) {
    throw new PosternError('decrypt_failed', 'ECIES ciphertext is too short');
  }
  const ephemeralPublicKey = sealed.subarray(0, P256_PUBLIC_KEY_LENGTH);
  if (ephemeralPublicKey[0] !== 0x04) {
    throw new PosternError('bad_request', 'invalid ECIES ephemeral public key: not uncompressed SEC1');
  }
  p256UncompressedPublicKey(ephemeralPublicKey); // throws bad_request if not on the curve
  const recipient = p256.getPublicKey(recipientPrivateKey, false);
  const sharedX = ecdhX(recipientPrivateKey, ephemeralPublicKey);
  const key = eciesKey(sharedX, ephemeralPublicKey, recipient, info);
  sharedX.fill(0);
  try {
    return aesGcmDecrypt(key, sealed.subarray(P256_PUBLIC_KEY_LENGTH));
  } finally {
    key.fill(0);
  }
}
