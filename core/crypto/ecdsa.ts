/**
 * ECDSA over P-256 with SHA-256.
 *
 * Keys: private = 32-byte big-endian scalar; public = 65-byte uncompressed SEC1 (0x04 ‖ X ‖ Y)
 * on output, 33-byte compressed also accepted on input.
 * Signatures: 64-byte compact r ‖ s, deterministic k (RFC 6979), always low-S (s <= n/2).
 *
 * ecdsaVerify is strict: it rejects high-S signatures, so a signature cannot be re-encoded into a
 * second valid one (s → n − s) to dodge a replay cache keyed on signature bytes. WebCrypto's
 * ECDSA sign does NOT normalise S: a client signing with crypto.subtle must pass its signature
 * through ecdsaNormalizeSignature before sending it.
 */
import { p256 } from '@noble/curves/nist.js';
import { PosternError } from '../errors.ts';

export const P256_PRIVATE_KEY_LENGTH = 32;
export const P256_PUBLIC_KEY_LENGTH = 65;
export const P256_COMPRESSED_PUBLIC_KEY_LENGTH = 33;
export const ECDSA_SIGNATURE_LENGTH = 64;

export interface P256KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Throws bad_request unless `privateKey` is a valid P-256 scalar (32 bytes, 1 <= d < n). */
export function checkP256PrivateKey(privateKey: Uint8Array): void {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== P256_PRIVATE_KEY_LENGTH || !p256.utils.isValidSecretKey(privateKey)) {
    throw new PosternError('bad_request', 'invalid P-256 private key');
  }
}

/**
 * Parses a 65-byte uncompressed or 33-byte compressed SEC1 public key, checks it is on the
 * curve and not the identity, and returns it uncompressed. Throws bad_request otherwise.
 */
export function p256UncompressedPublicKey(publicKey: Uint8Array): Uint8Array {
  if (
    !(publicKey instanceof Uint8Array) ||
    (publicKey.length !== P256_PUBLIC_KEY_LENGTH && publicKey.length !== P256_COMPRESSED_PUBLIC_KEY_LENGTH)
  ) {
    throw new PosternError('bad_request', 'P-256 public key must be 65 (uncompressed) or 33 (compressed) bytes');
  }
  try {
    const point = p256.Point.fromBytes(publicKey);
    point.assertValidity();
    return point.toBytes(false);
  } catch {
    throw new PosternError('bad_request', 'invalid P-256 public key: not a point on the curve');
  }
}

export function generateP256KeyPair(): P256KeyPair {
  const privateKey = p256.utils.randomSecretKey();
  return { privateKey, publicKey: p256.getPublicKey(privateKey, false) };
}

/** 65-byte uncompressed public key for a private key. */
export function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  checkP256PrivateKey(privateKey);
  return p256.getPublicKey(privateKey, false);
}

/** Signs SHA-256(message); returns 64-byte compact r ‖ s with low S. Deterministic (RFC 6979). */
export function ecdsaSign(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  checkP256PrivateKey(privateKey);
  return p256.sign(message, privateKey, { prehash: true, lowS: true, format: 'compact' });
}

/**
 * Verifies a 64-byte compact low-S signature over SHA-256(message). Never throws: wrong lengths,
 * invalid points, out-of-range r/s, high S and non-Uint8Array inputs all return false.
 */
export function ecdsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (!(publicKey instanceof Uint8Array) || !(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
    if (signature.length !== ECDSA_SIGNATURE_LENGTH) return false;
    if (publicKey.length !== P256_PUBLIC_KEY_LENGTH && publicKey.length !== P256_COMPRESSED_PUBLIC_KEY_LENGTH) return false;
    return p256.verify(signature, message, publicKey, { prehash: true, lowS: true, format: 'compact' }) === true;
  } catch {
    return false;
  }
}

/**
 * Maps a 64-byte compact signature to its low-S twin (s → n − s when s > n/2); low-S input is
 * returned unchanged (as a copy). For signatures produced by WebCrypto or other non-normalising
 * signers. Throws bad_request if the input is not a well-formed compact signature.
 */
export function ecdsaNormalizeSignature(signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length !== ECDSA_SIGNATURE_LENGTH) {
    throw new PosternError('bad_request', `ECDSA signature must be ${ECDSA_SIGNATURE_LENGTH} bytes`);
  }
  let sig;
  try {
    sig = p256.Signature.fromBytes(signature, 'compact');
  } catch {
    throw new PosternError('bad_request', 'invalid ECDSA signature encoding');
  }
  const low = sig.hasHighS() ? new p256.Signature(sig.r, p256.Point.Fn.ORDER - sig.s) : sig;
  return low.toBytes('compact');
}
