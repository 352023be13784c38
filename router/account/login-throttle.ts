/**
 * Login rate limiting, kept in the database so several Router processes share one count.
 * Failed attempts are limited per account and per client address within a sliding window.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { RouterLimits } from '../deps.ts';

export async function assertLoginAllowed(db: Kysely<Database>, limits: RouterLimits, email: string, clientIp: string, now: number): Promise<void> {
  const since = now - limits.loginWindowMs;
  const failures = (column: 'email' | 'client_ip', value: string) =>
    db
      .selectFrom('login_failures')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('at').as('oldest')])
      .where(column, '=', value)
      .where('at', '>', since)
      .executeTakeFirstOrThrow();
  const byEmail = await failures('email', email);
  const byIp = await failures('client_ip', clientIp);
  const tooMany = (row: { n: number | string; oldest: number | string | null }, limit: number) =>
    Number(row.n) >= limit ? Math.max(1, Math.ceil((Number(row.oldest) + limits.loginWindowMs - now) / 1000)) : 0;
  const retryAfterSeconds = Math.max(tooMany(byEmail, limits.loginFailuresPerWindow), tooMany(byIp, limits.loginFailuresPerWindow * 4));
  if (retryAfterSeconds > 0) {
    throw new PosternError('throttled', `Too many failed logins. Try again in ${retryAfterSeconds} s.`, { retryAfterSeconds });
  }
}

export async function noteLoginFailure(db: Kysely<Database>, email: string, clientIp: string, now: number): Promise<void> {
  await db.insertInto('login_failures').values({ uid: newUid(), email, client_ip: clientIp, at: now }).execute();
}

export async function clearLoginFailures(db: Kysely<Database>, email: string, now: number, windowMs: number): Promise<void> {
  await db.deleteFrom('login_failures').where((eb) => eb.or([eb('email', '=', email), eb('at', '<', now - windowMs)])).execute();
}
