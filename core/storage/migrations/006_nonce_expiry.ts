// biome-ignore-all lint/suspicious/noExplicitAny: a migration takes Kysely<any>; it must not depend on the schema type of today (Kysely's migration guide)
import type { Kysely } from 'kysely';

/**
 * Device nonces are swept by expiry, as vault nonces are (router/http/nonce-sweep.ts); without
 * an index on it every sweep read the whole table, about a million rows at 2,000 device
 * requests a second.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('device_nonces_expires').on('device_nonces').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('device_nonces_expires').ifExists().execute();
}
