/**
 * Storage for the Router on Workers: D1 through a small kysely dialect (./d1-dialect.ts; no
 * transactions, the Router needs none). The bundled migrations run once per isolate: kysely's
 * Migrator does not open a transaction on SQLite dialects, so it works on D1 as is.
 *
 * Two isolates that start at the same moment on an empty database may both try the first
 * migration; one of them fails (`table … already exists`), its request answers 500, and its next
 * request finds the migration recorded. Deployments that want no such window apply the schema
 * before traffic arrives by sending one request (e.g. /healthz) after `wrangler deploy`.
 */
import { Kysely } from 'kysely';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { Database } from '../../../core/storage/schema.ts';
import { D1Dialect, type D1DatabaseBinding } from './d1-dialect.ts';

export type { D1DatabaseBinding } from './d1-dialect.ts';

export function d1Kysely(binding: D1DatabaseBinding): Kysely<Database> {
  return new Kysely<Database>({ dialect: new D1Dialect(binding) });
}

const opened = new WeakMap<D1DatabaseBinding, Promise<Kysely<Database>>>();

/** Kysely over the binding, migrated; the same promise for every request of this isolate. */
export function openD1Storage(binding: D1DatabaseBinding): Promise<Kysely<Database>> {
  let ready = opened.get(binding);
  if (!ready) {
    const db = d1Kysely(binding);
    ready = migrateToLatest(db).then(() => db);
    // A failed migration is retried by the next request instead of poisoning the isolate.
    ready.catch(() => opened.delete(binding));
    opened.set(binding, ready);
  }
  return ready;
}
