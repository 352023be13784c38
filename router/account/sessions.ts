/**
 * Session tokens: 32 random bytes held by the client; the Router stores only their SHA-256.
 * Sessions slide on use (idle timeout = sessionTtlMs) and end absolutely after MAX_SESSION_MS.
 */
import type { Kysely } from 'kysely';
import { fromBase64Url, randomBytes, sha256, toBase64Url, utf8 } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { SessionUser } from '../vault/context.ts';

export const MAX_SESSION_MS = 12 * 60 * 60 * 1000;

export function hashSessionToken(token: string): string {
  return toBase64Url(sha256(utf8(token)));
}

export async function createSession(db: Kysely<Database>, userUid: string, clientIp: string, now: number, ttlMs: number): Promise<{ token: string; expiresAt: number }> {
  const token = toBase64Url(randomBytes(32));
  const expiresAt = now + ttlMs;
  await db
    .insertInto('sessions')
    .values({ token_hash: hashSessionToken(token), user_uid: userUid, created_at: now, expires_at: expiresAt, client_ip: clientIp, session_data_key: null })
    .execute();
  return { token, expiresAt };
}

export async function authenticateSession(db: Kysely<Database>, token: unknown, now: number, ttlMs: number): Promise<SessionUser> {
  if (typeof token !== 'string' || token.length === 0) {
    throw new PosternError('unauthorized', 'This command needs a session. Run `postern login` first.');
  }
  if (token.length > 64) throw new PosternError('unauthorized', 'The session token is malformed.');
  try {
    fromBase64Url(token);
  } catch {
    throw new PosternError('unauthorized', 'The session token is malformed.');
  }
  const tokenHash = hashSessionToken(token);
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.uid', 'sessions.user_uid')
    .select(['sessions.user_uid', 'sessions.expires_at', 'sessions.created_at', 'users.email'])
    .where('sessions.token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (!row) throw new PosternError('unauthorized', 'The session is not known (logged out or never issued). Run `postern login`.');
  if (Number(row.expires_at) <= now) {
    await db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
    throw new PosternError('session_expired', 'The session has expired. Run `postern login` again.');
  }
  const expiresAt = Math.min(now + ttlMs, Number(row.created_at) + MAX_SESSION_MS);
  await db.updateTable('sessions').set({ expires_at: expiresAt }).where('token_hash', '=', tokenHash).execute();
  return { uid: row.user_uid, email: row.email, sessionTokenHash: tokenHash, sessionExpiresAt: expiresAt };
}
