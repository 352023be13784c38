/**
 * Storage for the Router on Node: SQLite through better-sqlite3 (the embedded default) or
 * PostgreSQL through pg (for scale). Both run the same bundled migrations.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import type { StorageLocation } from '../../../core/storage/location.ts';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { Database } from '../../../core/storage/schema.ts';

export { parseStorageLocation, type StorageLocation } from '../../../core/storage/location.ts';

// PostgreSQL returns BIGINT as text to protect precision; our bigints are milliseconds, well inside 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

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

/** Distinct SQL texts kept prepared; the Router's queries are parameterised, so a few hundred cover them. */
const PREPARED_STATEMENTS_KEPT = 1000;

/**
 * better-sqlite3 behind kysely, with each SQL text prepared once: kysely asks for a new
 * statement on every query, and preparing (parsing and planning the SQL) cost about as much
 * Router CPU per vault request as running the queries (test/bench/vault-api). A statement is
 * only ever used synchronously here (Postern does not stream rows), so sharing one is safe.
 */
export function withPreparedStatements(sqlite: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => {
      statements.clear();
      sqlite.close();
    },
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement) {
        statements.delete(sql); // most recently used goes last
      } else {
        statement = sqlite.prepare(sql);
        if (statements.size >= PREPARED_STATEMENTS_KEPT) statements.delete(statements.keys().next().value!);
      }
      statements.set(sql, statement);
      return statement;
    },
  };
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
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withPreparedStatements(sqlite) }) });
  } else {
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: location.url, max: 10 }) }) });
  }
  await migrateToLatest(db);
  return db;
}
