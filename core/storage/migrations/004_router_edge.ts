// biome-ignore-all lint/suspicious/noExplicitAny: a migration takes Kysely<any>; it must not depend on the schema type of today (Kysely's migration guide)
import type { Kysely } from 'kysely';

/**
 * The Router's edge (docs/decisions/0003-router-edge.md): the vault API's replay cache, and login
 * failures that tell a real password check from an attempt refused while throttled, looked up
 * per account and address.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('vault_nonces')
    .addColumn('nonce', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vault_nonces_expires').on('vault_nonces').column('expires_at').execute();

  await db.schema
    .alterTable('login_failures')
    .addColumn('throttled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('login_failures_pair').on('login_failures').columns(['email', 'client_ip', 'at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('login_failures_pair').ifExists().execute();
  await db.schema.alterTable('login_failures').dropColumn('throttled').execute();
  await db.schema.dropTable('vault_nonces').ifExists().execute();
}
