/**
 * Forgetting expired replay nonces (vault and device) in bounded steps.
 *
 * A sweep once a minute deleted every nonce that had expired since the last one in one statement:
 * at 2,000 requests a second, 120,000 rows (with SQLite's secure_delete overwriting each), with
 * the Router's event loop (SQLite) or the table (PostgreSQL) held meanwhile, and every request
 * of that moment waiting. Now one statement deletes at most SWEEP_BATCH rows, and while more
 * are left the next step comes a second later instead of a minute.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../core/storage/schema.ts';

export type NonceTable = 'vault_nonces' | 'device_nonces';

/** At most this many expired nonces per statement (give or take rows with the same expiry). */
export const SWEEP_BATCH = 1000;
export const SWEEP_EVERY_MS = 60 * 1000;
/** While a sweep has left expired nonces behind, the next step comes this soon. */
export const SWEEP_CONTINUE_MS = 1000;

/** Per storage and table, when the next sweep step is due. */
const nextSweep = new WeakMap<object, Partial<Record<NonceTable, number>>>();

/**
 * Deletes up to about SWEEP_BATCH of the oldest expired nonces; true when expired ones are left.
 * The boundary is read through the `expires_at` index, then everything up to it is deleted.
 */
export async function sweepExpiredNonces(db: Kysely<Database>, table: NonceTable, now: number): Promise<boolean> {
  const boundary = await db
    .selectFrom(table)
    .select('expires_at')
    .where('expires_at', '<', now)
    .orderBy('expires_at')
    .limit(1)
    .offset(SWEEP_BATCH - 1)
    .executeTakeFirst();
  if (!boundary) {
    await db.deleteFrom(table).where('expires_at', '<', now).execute();
    return false;
  }
  await db.deleteFrom(table).where('expires_at', '<=', Number(boundary.expires_at)).execute();
  return true;
}

/** Runs a sweep step when one is due for this storage and table (the first request runs one). */
export async function sweepExpiredNoncesWhenDue(db: Kysely<Database>, table: NonceTable, now: number): Promise<void> {
  let due = nextSweep.get(db);
  if (!due) nextSweep.set(db, (due = {}));
  if (now < (due[table] ?? 0)) return;
  due[table] = now + SWEEP_EVERY_MS; // set before the await: concurrent requests do not sweep too
  const more = await sweepExpiredNonces(db, table, now);
  if (more) due[table] = now + SWEEP_CONTINUE_MS;
}
