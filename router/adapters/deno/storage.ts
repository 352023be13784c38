/**
 * Storage for the Router on Deno: PostgreSQL through `pg` (Deno's npm compatibility; the same
 * package and the same dialect as on Node), or SQLite through Deno's built-in `node:sqlite`
 * (no native addon, so no --allow-ffi), wrapped to the shape kysely's SqliteDialect expects.
 * Both run the bundled migrations.
 */
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { postgresPool } from '../postgres-pool.ts';
import type { StorageLocation } from '../../../core/storage/location.ts';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { Database } from '../../../core/storage/schema.ts';
import { denoRuntime } from './deno-api.ts';

export { parseStorageLocation, type StorageLocation } from '../../../core/storage/location.ts';

export async function openStorage(location: StorageLocation): Promise<Kysely<Database>> {
  const db =
    location.kind === 'postgres'
      ? new Kysely<Database>({ dialect: new PostgresDialect({ pool: postgresPool(location.url) }) })
      : new Kysely<Database>({ dialect: new SqliteDialect({ database: await openNodeSqlite(location.path) }) });
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}

// --- SQLite through node:sqlite ----------------------------------------------------------------

/** The part of node:sqlite's DatabaseSync/StatementSync used here (Node 20's types lack it). */
interface NodeSqliteStatement {
  all(...params: unknown[]): Record<string, unknown>[];
  iterate(...params: unknown[]): IterableIterator<Record<string, unknown>>;
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  columns(): unknown[];
}
interface NodeSqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): NodeSqliteStatement;
  close(): void;
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string) => NodeSqliteDatabase;
}

// Rows from node:sqlite have a null prototype; hand the Router ordinary objects.
const plain = (row: Record<string, unknown>): Record<string, unknown> => ({ ...row });

/** A node:sqlite database in the better-sqlite3 shape that kysely's SqliteDialect drives. */
export function kyselySqliteDatabase(database: NodeSqliteDatabase): SqliteDatabase {
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      const statement = database.prepare(sql);
      return {
        // A statement that yields columns (SELECT, or anything with RETURNING) is a reader.
        reader: statement.columns().length > 0,
        all: (parameters) => statement.all(...parameters).map(plain),
        run: (parameters) => statement.run(...parameters),
        *iterate(parameters) {
          for (const row of statement.iterate(...parameters)) yield plain(row);
        },
      };
    },
  };
}

async function openNodeSqlite(path: string): Promise<SqliteDatabase> {
  // A computed specifier because Node 20, whose types `tsc` checks the repository with, has no
  // node:sqlite (Deno has it built in). test/architecture.test.ts allows node: in this adapter.
  const specifier = 'node:sqlite';
  const { DatabaseSync } = (await import(specifier)) as NodeSqliteModule;
  if (path !== ':memory:') {
    const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
    if (dir) await denoRuntime().mkdir(dir, { recursive: true, mode: 0o700 });
  }
  const database = new DatabaseSync(path);
  database.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON;');
  return kyselySqliteDatabase(database);
}
