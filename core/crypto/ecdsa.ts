/**
 * ECDSA over P-256 with SHA-256.
 *
 * Keys: private = 32-byte big-endian scalar; public = 65-byte uncompressed SEC1 (0x04 ‖ X ‖ Y)
 * on output, 33-byte compressed also accepted on input.
 * Signatures: 64-byte compact r ‖ s, always low-S (s <= n/2).
 *
 * Signing and verifying run natively, the key imported once: in node:crypto where the runtime
 * has it (node-crypto.ts), else in the platform's WebCrypto (webcrypto.ts), else in @noble.
 * The native signatures use a random k and do not normalise S, so ecdsaSign maps S to the low
 * twin itself; @noble's are deterministic (RFC 6979). Each verifies under the others.
 *
 * ecdsaVerify is strict: it rejects high-S signatures, so a signature cannot be re-encoded into a
 * second valid one (s → n − s) to dodge a replay cache keyed on signature bytes. The check is
 * ours (WebCrypto accepts both), made before the platform is asked.
 */
import { p256 } from '@noble/curves/nist.js';
import { PosternError } from '../errors.ts';
import { fromHex, toHex } from './bytes.ts';
import { nobleEcdsaSign, nobleEcdsaVerify, nobleP256PublicKey } from './noble.ts';
import { nodeCrypto } from './node-crypto.ts';
import { platformSubtle, webEcdsaSign, webEcdsaVerify } from './webcrypto.ts';

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
  if (!(publicKey instanceof Uint8Array) || (publicKey.length !== P256_PUBLIC_KEY_LENGTH && publicKey.length !== P256_COMPRESSED_PUBLIC_KEY_LENGTH)) {
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
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/** 65-byte uncompressed public key for a private key. */
export function p256PublicKey(privateKey: Uint8Array): Uint8Array {
  checkP256PrivateKey(privateKey);
  return publicKeyOf(privateKey);
}

/**
 * In node:crypto where there is one (remembered per key), else @noble (slower than a signature;
 * docs/decisions/0008-native-crypto.md). A copy the caller may keep.
 */
function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return nodeCrypto()?.publicKeyOf(privateKey).slice() ?? nobleP256PublicKey(privateKey);
}

/** Signs SHA-256(message); returns 64-byte compact r ‖ s with low S. */
export async function ecdsaSign(privateKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  checkP256PrivateKey(privateKey);
  const node = nodeCrypto();
  if (node) return lowS(node.ecdsaSign(privateKey, message));
  if (!platformSubtle()) return nobleEcdsaSign(privateKey, message);
  return lowS(await webEcdsaSign(privateKey, message));
}

/**
 * Verifies a 64-byte compact low-S signature over SHA-256(message). Never throws: wrong lengths,
 * invalid points, out-of-range r/s, high S and non-Uint8Array inputs all resolve to false.
 */
export async function ecdsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    if (!(publicKey instanceof Uint8Array) || !(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
    if (signature.length !== ECDSA_SIGNATURE_LENGTH) return false;
    if (publicKey.length !== P256_PUBLIC_KEY_LENGTH && publicKey.length !== P256_COMPRESSED_PUBLIC_KEY_LENGTH) return false;
    const s = scalar(signature.subarray(32));
    if (s === 0n || s > HALF_N) return false;
    const node = nodeCrypto();
    if (!node && !platformSubtle()) return nobleEcdsaVerify(publicKey, message, signature);
    // The native implementations get only the uncompressed form (0x04 ‖ X ‖ Y): it would also take the hybrid
    // 0x06/0x07 form, a second encoding of the same key. A compressed key is decompressed (and
    // checked) first.
    const uncompressed = publicKey.length === P256_PUBLIC_KEY_LENGTH && publicKey[0] === 0x04 ? publicKey : p256UncompressedPublicKey(publicKey);
    return node ? node.ecdsaVerify(uncompressed, message, signature) : await webEcdsaVerify(uncompressed, message, signature);
  } catch {
    return false;
  }
}

const N = p256.Point.Fn.ORDER;
const HALF_N = N >> 1n;
const scalar = (bytes: Uint8Array): bigint => BigInt(`0x${toHex(bytes)}`);
const bytes32 = (n: bigint): Uint8Array => fromHex(n.toString(16).padStart(64, '0'));

/** The low-S twin of a well-formed signature (a copy either way). */
function lowS(signature: Uint8Array): Uint8Array {
  const s = scalar(signature.subarray(32));
  if (s <= HALF_N) return signature.slice();
  const out = signature.slice();
  out.set(bytes32(N - s), 32);
  return out;
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
  const r = scalar(signature.subarray(0, 32));
  const s = scalar(signature.subarray(32));
  if (r === 0n || r >= N || s === 0n || s >= N) throw new PosternError('bad_request', 'invalid ECDSA signature encoding');
  return lowS(signature);
}
