// biome-ignore-all lint/suspicious/noExplicitAny: a migration takes Kysely<any>; it must not depend on the schema type of today (Kysely's migration guide)
import type { Kysely } from 'kysely';

/**
 * Invitations: registration after the first account needs one unless the Router runs with open
 * registration. The Router keeps SHA-256 of the code (core/protocol/invitation-code.ts), never
 * the code, with the one email it admits and an expiry; redeeming it stamps `used_at`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('invitations')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('used_by', 'text')
    .execute();
  await db.schema.createIndex('invitations_email').on('invitations').column('email').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('invitations').execute();
}
