/**
 * Login rate limiting, kept in the database so several Router processes share one count.
 * Three counts over a sliding window, so that one attacker cannot lock a user out:
 *  - one account from one address: after `loginFailuresPerWindow` failures each further try
 *    waits twice as long as the last (up to `loginBackoffMaxMs`), and a try made while waiting
 *    is refused and doubles the wait again;
 *  - one address across accounts: `loginFailuresPerAddress` password checks, against spraying;
 *  - one account across addresses: `loginFailuresPerAccount` password checks, a much higher
 *    ceiling against a distributed guess. Tries refused while waiting do not count here, so a
 *    single address, however persistent, never locks the account for the user's own address.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { RouterLimits } from '../deps.ts';

type Limits = Pick<RouterLimits, 'loginFailuresPerWindow' | 'loginFailuresPerAddress' | 'loginFailuresPerAccount' | 'loginBackoffMaxMs' | 'loginWindowMs'>;

const SWEEP_EVERY_MS = 60 * 1000;
/** The first wait once an account and address are over their failures; each further failure doubles it. */
const BACKOFF_BASE_MS = 15 * 1000;
const lastSweep = new WeakMap<object, number>();

/** Refuses with `throttled` (and records the refused try against this account and address) when a count is over its limit. */
export async function assertLoginAllowed(db: Kysely<Database>, limits: Limits, email: string, clientIp: string, now: number): Promise<void> {
  const since = now - limits.loginWindowMs;
  if (now - (lastSweep.get(db) ?? 0) > SWEEP_EVERY_MS) {
    lastSweep.set(db, now);
    await db.deleteFrom('login_failures').where('at', '<', since).execute();
  }
  const pair = await db
    .selectFrom('login_failures')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('at').as('last')])
    .where('email', '=', email)
    .where('client_ip', '=', clientIp)
    .where('at', '>', since)
    .executeTakeFirstOrThrow();
  const checked = (column: 'email' | 'client_ip', value: string) =>
    db
      .selectFrom('login_failures')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('at').as('oldest')])
      .where(column, '=', value)
      .where('throttled', '=', 0)
      .where('at', '>', since)
      .executeTakeFirstOrThrow();
  const byAddress = await checked('client_ip', clientIp);
  const byAccount = await checked('email', email);

  const backoffSeconds = (() => {
    const n = Number(pair.n);
    if (n < limits.loginFailuresPerWindow) return 0;
    const waitMs = Math.min(limits.loginBackoffMaxMs, BACKOFF_BASE_MS * 2 ** Math.min(30, n - limits.loginFailuresPerWindow));
    const left = Number(pair.last) + waitMs - now;
    return left > 0 ? Math.ceil(left / 1000) : 0;
  })();
  const windowSeconds = (row: { n: number | string; oldest: number | string | null }, limit: number) =>
    Number(row.n) >= limit ? Math.max(1, Math.ceil((Number(row.oldest) + limits.loginWindowMs - now) / 1000)) : 0;
  const blocked = Math.max(backoffSeconds, windowSeconds(byAddress, limits.loginFailuresPerAddress), windowSeconds(byAccount, limits.loginFailuresPerAccount));
  if (blocked === 0) return;

  let retryAfterSeconds = blocked;
  if (backoffSeconds > 0) {
    // A try made while this account and address wait counts against them only: the wait doubles.
    await noteLoginFailure(db, email, clientIp, now, { throttled: true });
    retryAfterSeconds = Math.max(blocked, nextBackoffSeconds(limits, Number(pair.n) + 1));
  }
  throw new PosternError(
    'throttled',
    backoffSeconds > 0
      ? `Too many failed logins for this account from this address. Try again in ${retryAfterSeconds} s; each try before then doubles the wait.`
      : `Too many failed logins (from this address, or for this account from many addresses). Try again in ${retryAfterSeconds} s.`,
    { retryAfterSeconds },
  );
}

function nextBackoffSeconds(limits: Limits, failures: number): number {
  return Math.ceil(Math.min(limits.loginBackoffMaxMs, BACKOFF_BASE_MS * 2 ** Math.min(30, failures - limits.loginFailuresPerWindow)) / 1000);
}

export async function noteLoginFailure(
  db: Kysely<Database>,
  email: string,
  clientIp: string,
  now: number,
  options: { throttled?: boolean } = {},
): Promise<void> {
  await db
    .insertInto('login_failures')
    .values({ uid: newUid(), email, client_ip: clientIp, at: now, throttled: options.throttled ? 1 : 0 })
    .execute();
}

/** After a successful login: forget this account's failures from this address only, so an attacker elsewhere keeps waiting. */
export async function clearLoginFailures(db: Kysely<Database>, email: string, clientIp: string): Promise<void> {
  await db.deleteFrom('login_failures').where('email', '=', email).where('client_ip', '=', clientIp).execute();
}
