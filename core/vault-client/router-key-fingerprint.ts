/**
 * How a person compares Router keys: `SHA256:` and the base64url SHA-256 of the public key,
 * the shape SSH uses for host keys, short enough to read out over the phone.
 */
import { fromBase64Url, sha256, toBase64Url } from '../crypto/index.ts';

export function routerKeyFingerprint(publicKey: Uint8Array | string): string {
  const bytes = typeof publicKey === 'string' ? fromBase64Url(publicKey) : publicKey;
  return `SHA256:${toBase64Url(sha256(bytes))}`;
}
