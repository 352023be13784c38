/**
 * Device enrolment from a one-time token (Keeper Secrets Manager style).
 *
 *   clientId        = HMAC-SHA512(key = token, msg = utf8("POSTERN_CLIENT_ID"))   (64 bytes)
 *   tokenWrapKey    = HKDF-SHA256(ikm = token, salt = none, info = "postern/token-wrap/v1", 32)
 *
 * The server stores clientId to recognise the device's first call; the application key is
 * delivered wrapped (AES-256-GCM) under tokenWrapKey. Both are one-way functions of the token
 * under different constructions and labels, so knowing clientId reveals nothing about the
 * wrapping key.
 */
import { PosternError } from '../errors.ts';
import { AES_KEY_LENGTH } from './aes-gcm.ts';
import { utf8 } from './bytes.ts';
import { hkdfSha256, hmacSha512 } from './kdf.ts';

/** One-time tokens must carry at least 128 bits. */
export const MIN_ONE_TIME_TOKEN_LENGTH = 16;

const CLIENT_ID_MESSAGE = utf8('POSTERN_CLIENT_ID');
const TOKEN_WRAP_INFO = utf8('postern/token-wrap/v1');

function checkToken(token: Uint8Array): void {
  if (!(token instanceof Uint8Array) || token.length < MIN_ONE_TIME_TOKEN_LENGTH) {
    throw new PosternError('bad_request', `one-time token must be at least ${MIN_ONE_TIME_TOKEN_LENGTH} bytes`);
  }
}

/** 64-byte client id: HMAC-SHA512(token, "POSTERN_CLIENT_ID"). */
export function deviceClientId(oneTimeToken: Uint8Array): Uint8Array {
  checkToken(oneTimeToken);
  return hmacSha512(oneTimeToken, CLIENT_ID_MESSAGE);
}

/** 32-byte AES-256 key that wraps the application key for the device redeeming this token. */
export function tokenWrappingKey(oneTimeToken: Uint8Array): Uint8Array {
  checkToken(oneTimeToken);
  return hkdfSha256(oneTimeToken, undefined, TOKEN_WRAP_INFO, AES_KEY_LENGTH);
}
