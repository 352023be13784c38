/**
 * Storage for the Router on Node: SQLite through better-sqlite3 (the embedded default) or
 * PostgreSQL through pg (for scale). Both run the same bundled migrations.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { StorageLocation } from '../../../core/storage/location.ts';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { Database } from '../../../core/storage/schema.ts';
import { postgresPool } from '../postgres-pool.ts';
import { routerSqlite } from './sqlite.ts';
import { startWalCheckpointer } from './wal-checkpointer.ts';

export { parseStorageLocation, type StorageLocation } from '../../../core/storage/location.ts';
export { POSTGRES_POOL } from '../postgres-pool.ts';

/**
 * The database holds ciphertext, but also who has which records, the audit trail and session
 * hashes: it is for the Router's user alone, whatever the umask or the --data directory's mode.
 * SQLite gives the -wal and -shm files it creates the database file's mode, so the file is
 * created 0600 before SQLite opens it, and files left by an older Router are narrowed.
 */
export function restrictDatabaseFiles(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

export async function openStorage(location: StorageLocation): Promise<Kysely<Database>> {
  let db: Kysely<Database>;
  if (location.kind === 'sqlite') {
    if (location.path !== ':memory:') {
      mkdirSync(dirname(location.path), { recursive: true, mode: 0o700 });
      restrictDatabaseFiles(location.path);
    }
    const sqlite = new SQLite(location.path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('secure_delete = ON');
    const checkpointer =
      location.path === ':memory:'
        ? null
        : startWalCheckpointer(sqlite, location.path, (message) =>
            process.emitWarning(`SQLite checkpoint thread: ${message}; the Router's connection checkpoints by itself meanwhile.`),
          );
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: routerSqlite(sqlite, { onClose: () => void checkpointer?.stop() }) }) });
  } else {
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: postgresPool(location.url) }) });
  }
  await migrateToLatest(db);
  return db;
}
