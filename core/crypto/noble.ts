/**
 * The pure-JavaScript implementations (@noble): the independent reference the known-answer
 * tests compare the platform's WebCrypto against, the fallback for a runtime without
 * WebCrypto, and the faster choice where WebCrypto's per-call cost outweighs the work (small
 * AES-GCM messages; see aes-gcm.ts and docs/decisions/0008-native-crypto.md).
 *
 * Synchronous, Uint8Array in and out. Inputs are already validated by the public modules
 * (ecdsa.ts, ecies.ts, aes-gcm.ts); product code calls those, never this file.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { p256 } from '@noble/curves/nist.js';

const EMPTY = new Uint8Array(0);

/** x-coordinate of privateKey·publicKey (32 bytes). */
export function nobleEcdhSharedX(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  // Compressed output = 0x02/0x03 ‖ X.
  return p256.getSharedSecret(privateKey, publicKey, true).subarray(1);
}

/** Compact r ‖ s over SHA-256(message), low S, deterministic k (RFC 6979). */
export function nobleEcdsaSign(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  return p256.sign(message, privateKey, { prehash: true, lowS: true, format: 'compact' });
}

/** Strict verify: high-S signatures are refused. Throws on malformed keys; callers catch. */
export function nobleEcdsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return p256.verify(signature, message, publicKey, { prehash: true, lowS: true, format: 'compact' }) === true;
}

/** 65-byte uncompressed public key of a (valid) private key. */
export function nobleP256PublicKey(privateKey: Uint8Array): Uint8Array {
  return p256.getPublicKey(privateKey, false);
}

/** ciphertext ‖ tag. */
export function nobleAesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array | undefined): Uint8Array {
  return gcm(key, nonce, aad ?? EMPTY).encrypt(plaintext);
}

/** Opens ciphertext ‖ tag; throws (any error) when authentication fails. */
export function nobleAesGcmOpen(key: Uint8Array, nonce: Uint8Array, body: Uint8Array, aad: Uint8Array | undefined): Uint8Array {
  return gcm(key, nonce, aad ?? EMPTY).decrypt(body);
}
