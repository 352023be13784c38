/**
 * The "TURN REST API" credential (draft-uberti-behave-turn-rest; coturn's `use-auth-secret`):
 *
 *   username = "<expiry, unix seconds>:<user id>"
 *   password = base64(HMAC-SHA1(shared secret, username))
 *
 * The Router issues these to vault clients and gateways; the relay recomputes the password
 * from the username alone (relay/stun/credentials.ts checks the username's shape and expiry),
 * so nobody keeps a table of TURN users and a stolen credential dies at its expiry.
 */
import { toBase64, utf8 } from './bytes.ts';
import { hmacSha1 } from './stun.ts';

/** At least 128 bits, like every other Postern secret. */
export const MIN_TURN_SECRET_BYTES = 16;
export const MAX_TURN_USER_ID_LENGTH = 128;
const USER_ID = /^[\x21-\x39\x3b-\x7e]+$/;

export interface TurnRestCredentials {
  readonly username: string;
  readonly password: string;
  /** Milliseconds since the epoch, a whole second. */
  readonly expiresAt: number;
}

/** Thrown for arguments no caller should pass (a short secret, a user id with ':'). */
export class TurnCredentialError extends Error {
  override readonly name = 'TurnCredentialError';
}

function secretBytes(secret: Uint8Array | string): Uint8Array {
  const bytes = typeof secret === 'string' ? utf8(secret) : secret;
  if (!(bytes instanceof Uint8Array) || bytes.length < MIN_TURN_SECRET_BYTES)
    throw new TurnCredentialError(`TURN shared secret must be at least ${MIN_TURN_SECRET_BYTES} bytes`);
  return bytes;
}

/** base64(HMAC-SHA1(secret, username)). */
export function turnRestPassword(secret: Uint8Array | string, username: string): string {
  if (typeof username !== 'string') throw new TurnCredentialError('TURN username must be a string');
  return toBase64(hmacSha1(secretBytes(secret), utf8(username)));
}

export function isTurnUserId(userId: unknown): userId is string {
  return typeof userId === 'string' && userId.length <= MAX_TURN_USER_ID_LENGTH && USER_ID.test(userId);
}

/** Credentials for `userId`, valid `ttlSeconds` from `now` (ms); the expiry rounds down to a second. */
export function issueTurnRestCredentials(secret: Uint8Array | string, userId: string, ttlSeconds: number, now: number): TurnRestCredentials {
  if (!isTurnUserId(userId)) throw new TurnCredentialError(`TURN user id must be 1–${MAX_TURN_USER_ID_LENGTH} printable ASCII characters without ':'`);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1)
    throw new TurnCredentialError('TURN credential lifetime must be a whole number of seconds, at least 1');
  if (!Number.isFinite(now) || now < 0) throw new TurnCredentialError('now must be a time in milliseconds since the epoch');
  const expiry = Math.floor(now / 1000) + ttlSeconds;
  if (expiry > 999_999_999_999) throw new TurnCredentialError('TURN credential expiry is out of range');
  const username = `${expiry}:${userId}`;
  return { username, password: turnRestPassword(secret, username), expiresAt: expiry * 1000 };
}
