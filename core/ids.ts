import { randomBytes, toBase64Url } from './crypto/index.ts';

/** UIDs are 16 random bytes, base64url (22 characters), like Keeper's record UIDs. */
export function newUid(): string {
  return toBase64Url(randomBytes(16));
}

export const UID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
