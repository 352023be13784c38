/**
 * The vault API's replay cache: every sealed request carries a random nonce, remembered in
 * storage (so every Router process sees it) for longer than a timestamp stays acceptable; a
 * nonce seen twice is a replay. Kysely only, so it runs on SQLite, PostgreSQL and D1 alike.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { VAULT_REQUEST_MAX_SKEW_MS } from '../../core/protocol/envelope.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database } from '../../core/storage/schema.ts';
import { sweepExpiredNoncesWhenDue } from './nonce-sweep.ts';

/** A nonce is kept until no timestamp that could carry it is acceptable any more (±skew). */
export const VAULT_NONCE_TTL_MS = 2 * VAULT_REQUEST_MAX_SKEW_MS;

/** Refuses a timestamp outside the skew window; the caller checks it before remembering the nonce. */
export function assertFresh(timestamp: number, now: number): void {
  if (Math.abs(timestamp - now) > VAULT_REQUEST_MAX_SKEW_MS) {
    throw new PosternError(
      'request_expired',
      'The request timestamp is more than 5 minutes from the Router’s clock; it was not processed. Check this computer’s clock and retry.',
    );
  }
}

/** Written on every vault request: prepared (core/storage/prepared.ts). */
const insertNonce = prepareQuery<Database, { nonce: string; expiresAt: number }>()((db, $) =>
  db.insertInto('vault_nonces').values({ nonce: $.nonce, expires_at: $.expiresAt }),
);

/** Records `nonce` as used, or refuses with `replayed` when it already was. */
export async function rememberNonce(db: Kysely<Database>, nonce: string, now: number): Promise<void> {
  await sweepExpiredNoncesWhenDue(db, 'vault_nonces', now);
  try {
    await insertNonce.execute(db, { nonce, expiresAt: now + VAULT_NONCE_TTL_MS });
  } catch (err) {
    // The primary key refused it: seen before. Anything else is a storage fault, not a replay.
    const seen = await db.selectFrom('vault_nonces').select('nonce').where('nonce', '=', nonce).executeTakeFirst();
    if (!seen) throw err;
    throw new PosternError('replayed', 'This request was already received once (its nonce was used before); it was not processed again.');
  }
}
