/**
 * AES-256-GCM with a fresh random 96-bit nonce per message.
 *
 * Sealed format: nonce (12) ‖ ciphertext ‖ tag (16).
 *
 * Random 96-bit nonces are safe for up to ~2^32 messages under one key (NIST SP 800-38D §8.3);
 * keys in Postern wrap individual records / keys, far below that bound.
 *
 * Which implementation runs: node:crypto where the runtime has it (node-crypto.ts: OpenSSL,
 * synchronous, the fastest); otherwise it depends on the size. A WebCrypto call has a fixed cost
 * (the promise and the job around it) that outweighs @noble's work on short messages (@noble
 * expands the key and builds its GHASH table on every call, so it loses on long ones). Messages
 * below NATIVE_AES_GCM_MIN_BYTES (wrapped 32-byte keys, short frames) then stay in JavaScript.
 * All produce the same bytes; the known-answer tests run each through all three. Figures:
 * docs/decisions/0008-native-crypto.md.
 */
import { PosternError } from '../errors.ts';
import { concatBytes, randomBytes } from './bytes.ts';
import { nobleAesGcmOpen, nobleAesGcmSeal } from './noble.ts';
import { nodeCrypto } from './node-crypto.ts';
import { platformSubtle, webAesGcmOpen, webAesGcmSeal } from './webcrypto.ts';

export const AES_KEY_LENGTH = 32;
export const AES_GCM_NONCE_LENGTH = 12;
export const AES_GCM_TAG_LENGTH = 16;

/** Without node:crypto: below this many bytes of plaintext (or ciphertext) @noble is cheaper than a WebCrypto call. */
export const NATIVE_AES_GCM_MIN_BYTES = 256;

const useWebCrypto = (length: number) => length >= NATIVE_AES_GCM_MIN_BYTES && platformSubtle() !== null;

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES_KEY_LENGTH) {
    throw new PosternError('bad_request', `AES-256-GCM key must be ${AES_KEY_LENGTH} bytes`);
  }
}

/** A new random 32-byte AES-256 key. */
export function generateAesKey(): Uint8Array {
  return randomBytes(AES_KEY_LENGTH);
}

/**
 * Low-level: encrypt with a caller-chosen nonce, returning ciphertext ‖ tag (no nonce prefix).
 * Exists for known-answer tests; production code must use aesGcmEncrypt (nonce reuse under
 * one key breaks GCM completely).
 */
export async function aesGcmSealWithNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  checkKey(key);
  if (!(nonce instanceof Uint8Array) || nonce.length !== AES_GCM_NONCE_LENGTH) {
    throw new PosternError('bad_request', `AES-GCM nonce must be ${AES_GCM_NONCE_LENGTH} bytes`);
  }
  const node = nodeCrypto();
  if (node) return node.aesGcmSeal(key, nonce, plaintext, aad);
  return useWebCrypto(plaintext.length) ? webAesGcmSeal(key, nonce, plaintext, aad) : nobleAesGcmSeal(key, nonce, plaintext, aad);
}

/** Encrypts under a fresh random nonce; returns nonce ‖ ciphertext ‖ tag. */
export async function aesGcmEncrypt(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  const nonce = randomBytes(AES_GCM_NONCE_LENGTH);
  return concatBytes(nonce, await aesGcmSealWithNonce(key, nonce, plaintext, aad));
}

/**
 * Opens nonce ‖ ciphertext ‖ tag. Throws PosternError('decrypt_failed') if the input is too
 * short or authentication fails (wrong key, wrong AAD, any modified byte).
 */
export async function aesGcmDecrypt(key: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  checkKey(key);
  if (!(sealed instanceof Uint8Array) || sealed.length < AES_GCM_NONCE_LENGTH + AES_GCM_TAG_LENGTH) {
    throw new PosternError('decrypt_failed', 'ciphertext is too short');
  }
  const nonce = sealed.subarray(0, AES_GCM_NONCE_LENGTH);
  const body = sealed.subarray(AES_GCM_NONCE_LENGTH);
  try {
    const node = nodeCrypto();
    if (node) return node.aesGcmOpen(key, nonce, body, aad);
    return useWebCrypto(body.length) ? await webAesGcmOpen(key, nonce, body, aad) : nobleAesGcmOpen(key, nonce, body, aad);
  } catch {
    throw new PosternError('decrypt_failed', 'decryption failed: authentication tag mismatch');
  }
}
