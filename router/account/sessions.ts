/**
 * Session tokens: 32 random bytes held by the client; the Router stores only their SHA-256,
 * which is also the session id a vault request names in its headers (core/protocol/envelope.ts).
 * Sessions slide on use (idle timeout = sessionTtlMs) and end absolutely after MAX_SESSION_MS.
 *
 * Authentication is two steps around the body: `findSession` from the header before a byte of
 * the body is read (so an anonymous caller costs one indexed lookup), then `confirmSession` once
 * the sealed payload is open, with the token itself, which must hash to that same id.
 */
import type { Kysely } from 'kysely';
import { equalBytes, fromBase64Url, randomBytes, toBase64Url, utf8 } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { sessionIdOf, VAULT_SESSION_HEADER } from '../../core/protocol/envelope.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { SessionUser } from '../vault-api/context.ts';

export const MAX_SESSION_MS = 12 * 60 * 60 * 1000;

export function hashSessionToken(token: string): string {
  return sessionIdOf(token);
}

export async function createSession(
  db: Kysely<Database>,
  userUid: string,
  clientIp: string,
  now: number,
  ttlMs: number,
): Promise<{ token: string; expiresAt: number }> {
  const token = toBase64Url(randomBytes(32));
  const expiresAt = now + ttlMs;
  await db
    .insertInto('sessions')
    .values({ token_hash: hashSessionToken(token), user_uid: userUid, created_at: now, expires_at: expiresAt, client_ip: clientIp, session_data_key: null })
    .execute();
  return { token, expiresAt };
}

/** A session found from its id, not yet proven by its token. */
export interface PendingSession {
  tokenHash: string;
  userUid: string;
  email: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * The sliding expiry is written when it moves by at least this much (or a tenth of the session
 * lifetime, if shorter), not on every request: one write fewer per vault request, and a
 * session still ends at most this much earlier than its exact sliding time.
 */
const SLIDE_WRITE_STEP_MS = 60 * 1000;

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** Before the body: the session the request header names must exist and be unexpired. */
/** Read on every vault request: prepared (core/storage/prepared.ts). */
const sessionByTokenHash = prepareQuery<Database, { tokenHash: string }>()((db, $) =>
  db
    .selectFrom('sessions')
    .innerJoin('users', 'users.uid', 'sessions.user_uid')
    .select(['sessions.user_uid', 'sessions.expires_at', 'sessions.created_at', 'users.email'])
    .where('sessions.token_hash', '=', $.tokenHash),
);

export async function findSession(db: Kysely<Database>, sessionId: string | undefined, now: number): Promise<PendingSession> {
  if (sessionId === undefined || sessionId === '') {
    throw new PosternError(
      'unauthorized',
      `This command needs a session, named in the ${VAULT_SESSION_HEADER} header. Run \`postern login\` first; a client that sends no such header is older than this Router and must be upgraded.`,
    );
  }
  if (!SESSION_ID.test(sessionId)) throw new PosternError('unauthorized', `The ${VAULT_SESSION_HEADER} header is malformed. Run \`postern login\` again.`);
  const row = await sessionByTokenHash.first(db, { tokenHash: sessionId });
  if (!row) throw new PosternError('unauthorized', 'The session is not known (logged out or never issued). Run `postern login`.');
  if (Number(row.expires_at) <= now) {
    await db.deleteFrom('sessions').where('token_hash', '=', sessionId).execute();
    throw new PosternError('session_expired', 'The session has expired. Run `postern login` again.');
  }
  return { tokenHash: sessionId, userUid: row.user_uid, email: row.email, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
}

/** After the body is opened: the sealed token must be the one the header named; then the session slides. */
export async function confirmSession(db: Kysely<Database>, pending: PendingSession, token: unknown, now: number, ttlMs: number): Promise<SessionUser> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 64) {
    throw new PosternError('unauthorized', 'This command needs a session token inside the sealed payload. Run `postern login` first.');
  }
  try {
    fromBase64Url(token);
  } catch {
    throw new PosternError('unauthorized', 'The session token is malformed.');
  }
  if (!equalBytes(utf8(hashSessionToken(token)), utf8(pending.tokenHash))) {
    throw new PosternError('unauthorized', `The session token does not match the session named in the ${VAULT_SESSION_HEADER} header.`);
  }
  let expiresAt = Math.min(now + ttlMs, pending.createdAt + MAX_SESSION_MS);
  const moved = expiresAt - pending.expiresAt;
  if (moved < 0 || moved >= Math.min(SLIDE_WRITE_STEP_MS, ttlMs / 10)) {
    await db.updateTable('sessions').set({ expires_at: expiresAt }).where('token_hash', '=', pending.tokenHash).execute();
  } else {
    expiresAt = pending.expiresAt;
  }
  return { uid: pending.userUid, email: pending.email, sessionTokenHash: pending.tokenHash, sessionExpiresAt: expiresAt };
}
