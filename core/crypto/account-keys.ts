/**
 * Account keys from the master password (client side), Keeper-style:
 *
 *   stretched     = PBKDF2-HMAC-SHA256(utf8(NFKC(masterPassword)), salt, iterations, 32)
 *   authHash      = HKDF-SHA256(ikm = stretched, salt = none, info = "postern/auth-hash/v1",      32)
 *   encryptionKey = HKDF-SHA256(ikm = stretched, salt = none, info = "postern/encryption-key/v1", 32)
 *
 * ("salt = none" is RFC 5869's default: HashLen zero bytes; the PBKDF2 salt already made
 * `stretched` unique per account.) The two HKDF outputs are independent PRF outputs, so the
 * server, which only ever sees authHash, learns nothing about encryptionKey. The server stores
 * verifierForAuthHash(authHash, serverSalt) = SHA-256(serverSalt ‖ authHash), never authHash.
 */
import { PosternError } from '../errors.ts';
import { concatBytes, equalBytes, fromBase64Url, randomBytes, toBase64Url, utf8 } from './bytes.ts';
import { hkdfSha256, pbkdf2Sha256, sha256 } from './kdf.ts';

/** OWASP 2023 floor for PBKDF2-HMAC-SHA256. */
export const MIN_PBKDF2_ITERATIONS = 600_000;
/**
 * Ceiling on what a client will accept: KDF params arrive from the server, and a hostile or
 * corrupted value must not freeze the client for minutes.
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;
export const KDF_SALT_LENGTH = 16;
export const ACCOUNT_KEY_LENGTH = 32;
export const MIN_SERVER_SALT_LENGTH = 16;

const AUTH_HASH_INFO = utf8('postern/auth-hash/v1');
const ENCRYPTION_KEY_INFO = utf8('postern/encryption-key/v1');

export interface KdfParams {
  algorithm: 'pbkdf2-sha256';
  iterations: number;
  /** base64url (unpadded), at least 16 bytes decoded. */
  salt: string;
}

export interface AccountKeys {
  /** Sent to the server to log in; the server stores only verifierForAuthHash(authHash, ·). */
  authHash: Uint8Array;
  /** Never leaves the client. */
  encryptionKey: Uint8Array;
}

/** Fresh parameters for a new account (or a password change): random 16-byte salt. */
export function newKdfParams(iterations: number = MIN_PBKDF2_ITERATIONS): KdfParams {
  checkIterations(iterations);
  return { algorithm: 'pbkdf2-sha256', iterations, salt: toBase64Url(randomBytes(KDF_SALT_LENGTH)) };
}

function checkIterations(iterations: unknown): asserts iterations is number {
  if (typeof iterations !== 'number' || !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS) {
    throw new PosternError('bad_request', `KDF iterations must be an integer >= ${MIN_PBKDF2_ITERATIONS}`);
  }
  if (iterations > MAX_PBKDF2_ITERATIONS) {
    throw new PosternError('bad_request', `KDF iterations must be <= ${MAX_PBKDF2_ITERATIONS}`);
  }
}

/** Validates params (which may come straight from JSON) and returns the decoded salt. */
export function checkKdfParams(params: KdfParams): Uint8Array {
  if (typeof params !== 'object' || params === null) {
    throw new PosternError('bad_request', 'KDF params must be an object');
  }
  if (params.algorithm !== 'pbkdf2-sha256') {
    throw new PosternError('bad_request', 'unsupported KDF algorithm');
  }
  checkIterations(params.iterations);
  const salt = fromBase64Url(params.salt);
  if (salt.length < KDF_SALT_LENGTH) {
    throw new PosternError('bad_request', `KDF salt must be at least ${KDF_SALT_LENGTH} bytes`);
  }
  return salt;
}

/**
 * The HKDF split step alone: 32-byte PBKDF2 output → { authHash, encryptionKey }.
 * deriveAccountKeys = splitAccountKey(PBKDF2(...)); exported so the construction can be tested
 * (and reproduced by other clients) without paying for 600k iterations.
 */
export function splitAccountKey(stretched: Uint8Array): AccountKeys {
  if (!(stretched instanceof Uint8Array) || stretched.length !== ACCOUNT_KEY_LENGTH) {
    throw new PosternError('bad_request', `stretched key must be ${ACCOUNT_KEY_LENGTH} bytes`);
  }
  return {
    authHash: hkdfSha256(stretched, undefined, AUTH_HASH_INFO, ACCOUNT_KEY_LENGTH),
    encryptionKey: hkdfSha256(stretched, undefined, ENCRYPTION_KEY_INFO, ACCOUNT_KEY_LENGTH),
  };
}

/** The master password as PBKDF2 input: NFKC-normalised, then UTF-8. */
export function masterPasswordBytes(masterPassword: string): Uint8Array {
  if (typeof masterPassword !== 'string' || masterPassword.length === 0) {
    throw new PosternError('bad_request', 'master password must be a non-empty string');
  }
  return utf8(masterPassword.normalize('NFKC'));
}

/** Derives { authHash, encryptionKey } from the master password. Enforces MIN_PBKDF2_ITERATIONS. */
export async function deriveAccountKeys(masterPassword: string, params: KdfParams): Promise<AccountKeys> {
  const salt = checkKdfParams(params);
  const password = masterPasswordBytes(masterPassword);
  const stretched = await pbkdf2Sha256(password, salt, params.iterations, ACCOUNT_KEY_LENGTH);
  try {
    return splitAccountKey(stretched);
  } finally {
    stretched.fill(0);
    password.fill(0);
  }
}

/**
 * What the server stores: SHA-256(serverSalt ‖ authHash). Compare with equalBytes (or use
 * checkAuthHash), never with ===/string comparison.
 */
export function verifierForAuthHash(authHash: Uint8Array, serverSalt: Uint8Array): Uint8Array {
  if (!(authHash instanceof Uint8Array) || authHash.length !== ACCOUNT_KEY_LENGTH) {
    throw new PosternError('bad_request', `auth hash must be ${ACCOUNT_KEY_LENGTH} bytes`);
  }
  if (!(serverSalt instanceof Uint8Array) || serverSalt.length < MIN_SERVER_SALT_LENGTH) {
    throw new PosternError('bad_request', `server salt must be at least ${MIN_SERVER_SALT_LENGTH} bytes`);
  }
  return sha256(concatBytes(serverSalt, authHash));
}

/** Server-side check of a presented auth hash against the stored verifier (constant time). */
export function checkAuthHash(authHash: Uint8Array, serverSalt: Uint8Array, storedVerifier: Uint8Array): boolean {
  return equalBytes(verifierForAuthHash(authHash, serverSalt), storedVerifier);
}
