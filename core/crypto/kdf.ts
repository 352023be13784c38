/**
 * Hashes, MACs and key-derivation functions (all SHA-2 based).
 *
 * pbkdf2Sha256 uses WebCrypto when `globalThis.crypto.subtle` exists (about ten times faster than
 * @noble) and falls back to @noble when it is missing or refuses the request: workerd refuses
 * PBKDF2 above 100,000 iterations, some browsers an empty password. Both paths are tested to
 * agree. Why and the figures: docs/decisions/0012-pbkdf2-webcrypto-first.md.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { PosternError } from '../errors.ts';

const SHA256_LENGTH = 32;
/** RFC 5869: L <= 255 * HashLen. */
const HKDF_SHA256_MAX_LENGTH = 255 * SHA256_LENGTH;
/** Generous upper bound on derived key length; WebCrypto takes the length in bits as a 32-bit value. */
const PBKDF2_MAX_LENGTH = 1024;

function checkPbkdf2Args(iterations: number, length: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 0xffffffff) {
    throw new PosternError('bad_request', 'PBKDF2 iterations must be an integer >= 1');
  }
  if (!Number.isSafeInteger(length) || length < 1 || length > PBKDF2_MAX_LENGTH) {
    throw new PosternError('bad_request', `PBKDF2 output length must be an integer in 1..${PBKDF2_MAX_LENGTH}`);
  }
}

/** PBKDF2-HMAC-SHA256 via @noble/hashes (pure JS, works everywhere). */
export async function pbkdf2Sha256Noble(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
  checkPbkdf2Args(iterations, length);
  return pbkdf2Async(nobleSha256, password, salt, { c: iterations, dkLen: length });
}

/**
 * PBKDF2-HMAC-SHA256 via WebCrypto. Rejects (with the platform's error) when WebCrypto is
 * unavailable or refuses the parameters; pbkdf2Sha256 handles the fallback.
 */
export async function pbkdf2Sha256WebCrypto(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
  checkPbkdf2Args(iterations, length);
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto is not available');
  // Copies: WebCrypto wants ArrayBuffer-backed views (not SharedArrayBuffer).
  const key = await subtle.importKey('raw', new Uint8Array(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(salt), iterations }, key, length * 8);
  return new Uint8Array(bits);
}

/**
 * PBKDF2-HMAC-SHA256. WebCrypto when available and willing, noble otherwise (see header).
 * Rejects with PosternError('bad_request') for iterations < 1 or a bad output length.
 */
export async function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
  checkPbkdf2Args(iterations, length);
  if (globalThis.crypto?.subtle) {
    try {
      return await pbkdf2Sha256WebCrypto(password, salt, iterations, length);
    } catch {
      // fall through to the portable implementation
    }
  }
  return pbkdf2Sha256Noble(password, salt, iterations, length);
}

/**
 * HKDF-SHA256 (RFC 5869), extract then expand. `salt` undefined (or empty) means HashLen zero
 * bytes, as in the RFC.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 1 || length > HKDF_SHA256_MAX_LENGTH) {
    throw new PosternError('bad_request', `HKDF-SHA256 output length must be an integer in 1..${HKDF_SHA256_MAX_LENGTH}`);
  }
  return hkdf(nobleSha256, ikm, salt, info, length);
}

export function hmacSha512(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmac(sha512, key, msg);
}

export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmac(nobleSha256, key, msg);
}

export function sha256(msg: Uint8Array): Uint8Array {
  return nobleSha256(msg);
}
