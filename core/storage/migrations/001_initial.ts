// biome-ignore-all lint/suspicious/noExplicitAny: a migration takes Kysely<any>; it must not depend on the schema type of today (Kysely's migration guide)
import type { Kysely } from 'kysely';

/**
 * Portable DDL: text, bigint (milliseconds) and integer only, so SQLite, PostgreSQL and D1
 * run the same migration. Secrets are never in plaintext columns; see ../schema.ts.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('kdf', 'text', (c) => c.notNull())
    .addColumn('auth_salt', 'text', (c) => c.notNull())
    .addColumn('auth_verifier', 'text', (c) => c.notNull())
    .addColumn('encrypted_data_key', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('encrypted_private_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_uid', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('client_ip', 'text', (c) => c.notNull())
    .addColumn('session_data_key', 'text')
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_uid').execute();

  await db.schema
    .createTable('login_failures')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('client_ip', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('login_failures_email').on('login_failures').columns(['email', 'at']).execute();
  await db.schema.createIndex('login_failures_ip').on('login_failures').columns(['client_ip', 'at']).execute();

  await db.schema
    .createTable('folders')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('owner_uid', 'text', (c) => c.notNull())
    .addColumn('parent_uid', 'text')
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('encrypted_name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('folder_members')
    .addColumn('folder_uid', 'text', (c) => c.notNull())
    .addColumn('user_uid', 'text', (c) => c.notNull())
    .addColumn('key_type', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('can_edit', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('can_share', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('is_owner', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('folder_members_pk', ['folder_uid', 'user_uid'])
    .execute();
  await db.schema.createIndex('folder_members_user').on('folder_members').column('user_uid').execute();

  await db.schema
    .createTable('records')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('owner_uid', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('folder_uid', 'text')
    .addColumn('key_type', 'text', (c) => c.notNull())
    .addColumn('record_key', 'text', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('records_owner').on('records').column('owner_uid').execute();
  await db.schema.createIndex('records_folder').on('records').column('folder_uid').execute();

  await db.schema
    .createTable('record_revisions')
    .addColumn('record_uid', 'text', (c) => c.notNull())
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('record_revisions_pk', ['record_uid', 'revision'])
    .execute();

  await db.schema
    .createTable('record_links')
    .addColumn('parent_uid', 'text', (c) => c.notNull())
    .addColumn('child_uid', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('record_links_pk', ['parent_uid', 'child_uid'])
    .execute();
  await db.schema.createIndex('record_links_child').on('record_links').column('child_uid').execute();

  await db.schema
    .createTable('record_transactions')
    .addColumn('record_uid', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('base_revision', 'integer', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('files')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('record_uid', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('file_key', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('uploaded_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('files_record').on('files').column('record_uid').execute();

  await db.schema
    .createTable('applications')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('owner_uid', 'text', (c) => c.notNull())
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('application_folders')
    .addColumn('app_uid', 'text', (c) => c.notNull())
    .addColumn('folder_uid', 'text', (c) => c.notNull())
    .addColumn('wrapped_folder_key', 'text', (c) => c.notNull())
    .addColumn('can_edit', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('application_folders_pk', ['app_uid', 'folder_uid'])
    .execute();

  await db.schema
    .createTable('devices')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('app_uid', 'text', (c) => c.notNull())
    .addColumn('client_id_hash', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('wrapped_app_key', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text')
    .addColumn('ip_lock', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('locked_ip', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('first_access_expires_at', 'bigint', (c) => c.notNull())
    .addColumn('access_expires_at', 'bigint')
    .addColumn('registered_at', 'bigint')
    .addColumn('last_seen_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('devices_app').on('devices').column('app_uid').execute();

  await db.schema
    .createTable('device_nonces')
    .addColumn('device_uid', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('device_nonces_pk', ['device_uid', 'nonce'])
    .execute();

  await db.schema
    .createTable('events')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('owner_uid', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('record_uid', 'text')
    .addColumn('client_ip', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute();
  await db.schema.createIndex('events_owner_at').on('events').columns(['owner_uid', 'at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'events',
    'device_nonces',
    'devices',
    'application_folders',
    'applications',
    'files',
    'record_transactions',
    'record_links',
    'record_revisions',
    'records',
    'folder_members',
    'folders',
    'login_failures',
    'sessions',
    'users',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
