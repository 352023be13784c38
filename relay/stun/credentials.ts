/**
 * TURN credentials: the long-term credential key of RFC 8489 §9.2, and the time-limited
 * credentials of the "TURN REST API" (draft-uberti-behave-turn-rest, coturn's
 * `use-auth-secret`), which is how Postern hands a vault client a TURN login without the relay
 * keeping a user table:
 *
 *   username = "<expiry, unix seconds>:<user id>"
 *   password = base64(HMAC-SHA1(shared secret, username))
 *   key      = MD5(username ":" realm ":" password)          (what MESSAGE-INTEGRITY uses)
 *
 * Whoever holds the shared secret (the Router) issues them; the relay recomputes the password
 * from the username alone, so a stolen credential dies at its expiry.
 *
 * No SASLprep / OpaqueString. RFC 8489 asks that username, realm and password be processed with
 * the OpaqueString profile (RFC 8265) before hashing, which for text already in NFC without
 * non-ASCII spaces is the identity. Every credential here is ASCII that Postern itself produced
 * (digits, ':', a user id, base64), where both profiles are the identity too, so we hash the
 * UTF-8 bytes exactly as given and carry no Unicode tables. The one visible consequence: a
 * password like RFC 5769's "The\u00ADM\u00AAtr\u2168" must be passed already prepared
 * ("TheMatrIX").
 */
import {
  fromUtf8,
  isTurnUserId,
  issueTurnRestCredentials,
  MAX_TURN_USER_ID_LENGTH,
  md5,
  sha256,
  TurnCredentialError,
  turnRestPassword,
  utf8,
} from '../../core/crypto/index.ts';
import { PASSWORD_ALGORITHM } from './constants.ts';
import { StunError } from './message.ts';

/** Key derivations of PASSWORD-ALGORITHM (RFC 8489 §18.5). MD5 is the default and what browsers use. */
export type PasswordAlgorithmName = 'md5' | 'sha256';

export function passwordAlgorithmName(algorithm: number): PasswordAlgorithmName | undefined {
  if (algorithm === PASSWORD_ALGORITHM.MD5) return 'md5';
  if (algorithm === PASSWORD_ALGORITHM.SHA256) return 'sha256';
  return undefined;
}

/**
 * The long-term credential key (RFC 8489 §9.2.2): MD5 (16 bytes) or SHA-256 (32 bytes) of
 * UTF-8 "username:realm:password". Inputs are used as given (see the header on SASLprep).
 */
export function longTermKey(username: string, realm: string, password: string, algorithm: PasswordAlgorithmName = 'md5'): Uint8Array {
  if (typeof username !== 'string' || typeof realm !== 'string' || typeof password !== 'string') {
    throw new StunError('invalid_argument', 'long-term key needs a username, realm and password as strings');
  }
  const input = utf8(`${username}:${realm}:${password}`);
  if (algorithm === 'md5') return md5(input);
  if (algorithm === 'sha256') return sha256(input);
  throw new StunError('invalid_argument', `unknown password algorithm ${JSON.stringify(String(algorithm))}`);
}

/** USERHASH (RFC 8489 §14.4): SHA-256 of UTF-8 "username:realm", for user anonymity. */
export function userHash(username: string, realm: string): Uint8Array {
  return sha256(utf8(`${username}:${realm}`));
}

// ---------------------------------------------------------------------------------------------
// TURN REST API credentials
// ---------------------------------------------------------------------------------------------

/** Expiry: decimal unix seconds, no sign, no leading zero, at most 12 digits (year 33658). */
const EXPIRY = /^[1-9][0-9]{0,11}$/;

export interface TurnCredentials {
  readonly username: string;
  readonly password: string;
  /** When the credentials stop working, in milliseconds since the epoch (a whole second). */
  readonly expiresAt: number;
}

export interface TurnUsername {
  readonly userId: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

/**
 * base64(HMAC-SHA1(secret, username)): the password the relay expects for this username. The
 * formula lives in core/crypto/turn-rest.ts, where the Router issues credentials with it too.
 */
export function turnPassword(secret: Uint8Array | string, username: string): string {
  return asStunError(() => turnRestPassword(secret, username));
}

/**
 * Credentials for `userId` valid for `ttlSeconds` from `now` (milliseconds, as Date.now()).
 * The expiry is rounded down to a whole second, so they never outlive what was asked.
 */
export function issueTurnCredentials(secret: Uint8Array | string, userId: string, ttlSeconds: number, now: number): TurnCredentials {
  return asStunError(() => issueTurnRestCredentials(secret, userId, ttlSeconds, now));
}

function asStunError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TurnCredentialError) throw new StunError('invalid_argument', err.message);
    throw err;
  }
}

/**
 * Reads a TURN REST username at time `now` (ms). Throws StunError with reason
 * 'credentials_malformed' (code 'bad_request') for anything but "<expiry>:<user id>" as issued
 * above, and 'credentials_expired' (code 'unauthorized') once the expiry has passed. A server
 * answers both with 401; the distinction is for its logs. This only reads the username: the
 * password is proved by MESSAGE-INTEGRITY with longTermKey(username, realm, turnPassword(…)).
 */
export function checkTurnUsername(username: string | Uint8Array, now: number): TurnUsername {
  let text: string;
  try {
    text = typeof username === 'string' ? username : fromUtf8(username);
  } catch {
    throw new StunError('credentials_malformed', 'TURN username is not valid UTF-8');
  }
  const malformed = (why: string): StunError => new StunError('credentials_malformed', `TURN username ${why}; expected "<expiry unix seconds>:<user id>"`);
  if (typeof text !== 'string') throw malformed('is not a string');
  if (text.length > 13 + MAX_TURN_USER_ID_LENGTH) throw malformed('is too long');
  const colon = text.indexOf(':');
  if (colon < 0) throw malformed('has no ":"');
  const expiryText = text.slice(0, colon);
  const userId = text.slice(colon + 1);
  if (!EXPIRY.test(expiryText)) throw malformed('does not start with an expiry in unix seconds');
  if (!isTurnUserId(userId)) {
    throw malformed(`has a user id that is not 1–${MAX_TURN_USER_ID_LENGTH} printable ASCII characters without ":"`);
  }
  const expiresAt = Number(expiryText) * 1000;
  if (!(now < expiresAt)) {
    throw new StunError(
      'credentials_expired',
      `TURN credentials expired at ${new Date(expiresAt).toISOString()}; the client must fetch new ones`,
      'unauthorized',
    );
  }
  return { userId, expiresAt };
}
