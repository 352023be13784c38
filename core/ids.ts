import { randomBytes, toBase64Url } from './crypto/index.ts';

/** UIDs are 16 random bytes, base64url (22 characters), like Keeper's record UIDs. */
export function newUid(): string {
  return toBase64Url(randomBytes(16));
}

/**
 * A UID as written: 16 bytes in base64url without padding, 22 characters. The last character
 * carries the 16th byte's last 2 bits and 4 zero bits, so it is one of A, Q, g and w; a string
 * that ends otherwise decodes to more than 16 bytes and is not a UID. The one definition, used
 * by the wire schemas, the record validators and the CLI.
 */
export const UID_PATTERN = /^[A-Za-z0-9_-]{21}[AQgw]$/;

export function isUid(value: unknown): value is string {
  return typeof value === 'string' && UID_PATTERN.test(value);
}
