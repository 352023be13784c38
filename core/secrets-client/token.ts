/**
 * One-time access tokens look like `<router-host>:<base64url 32 bytes>`, e.g.
 * `127.0.0.1:8080:q3J…`. The host part tells a fresh device where to go; the secret part
 * derives the client id and opens the application key. Base64url never contains ':', so the
 * secret is everything after the last colon.
 */
import { fromBase64Url, toBase64Url } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

export function formatOneTimeToken(serverUrl: string, secret: Uint8Array): string {
  const host = new URL(serverUrl).host;
  return `${host}:${toBase64Url(secret)}`;
}

export function parseOneTimeToken(token: string): { host: string | null; secret: Uint8Array } {
  const trimmed = token.trim();
  const at = trimmed.lastIndexOf(':');
  const host = at > 0 ? trimmed.slice(0, at) : null;
  const encoded = at >= 0 ? trimmed.slice(at + 1) : trimmed;
  let secret: Uint8Array;
  try {
    secret = fromBase64Url(encoded);
  } catch {
    throw new PosternError('bad_request', 'The one-time token is malformed; copy it again exactly as `postern app client add` printed it.');
  }
  if (secret.length !== 32) throw new PosternError('bad_request', 'The one-time token is malformed (its secret part must be 32 bytes).');
  return { host, secret };
}
