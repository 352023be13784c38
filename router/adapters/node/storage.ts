/**
 * Storage for the Router on Node: SQLite through better-sqlite3 (the embedded default) or
 * PostgreSQL through pg (for scale). Both run the same bundled migrations.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type PostgresPool } from 'kysely';
import pg from 'pg';
import { PosternError } from '../../../core/errors.ts';
import type { StorageLocation } from '../../../core/storage/location.ts';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { Database } from '../../../core/storage/schema.ts';
import { routerSqlite } from './sqlite.ts';
import { startWalCheckpointer } from './wal-checkpointer.ts';

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

/**
 * PostgreSQL connections, sized and bounded so that a database that is away or slow costs the
 * Router clear errors, not a hang or unbounded memory (docs/operations/dependencies.md):
 */
export const POSTGRES_POOL = {
  /** Connections per Router process. */
  max: 10,
  /** A new connection that takes longer fails the request as `unavailable` (a stopped server refuses at once). */
  connectionTimeoutMillis: 5_000,
  /** An idle connection is closed after this. */
  idleTimeoutMillis: 30_000,
  /** A query the server has not answered by then fails (client side; the server may still finish it). */
  queryTimeoutMillis: 30_000,
  /** Requests waiting for a connection beyond this are refused at once as `unavailable`. */
  maxWaiting: 500,
} as const;

function postgresPool(url: string): PostgresPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: POSTGRES_POOL.max,
    connectionTimeoutMillis: POSTGRES_POOL.connectionTimeoutMillis,
    idleTimeoutMillis: POSTGRES_POOL.idleTimeoutMillis,
    query_timeout: POSTGRES_POOL.queryTimeoutMillis,
    keepAlive: true,
  });
  // An idle connection the server ends (a restart, a failover, a dropped database) is an
  // 'error' event on the pool; pg has already dropped that connection and the next query opens
  // another. Unheard, Node would throw the event and take the Router down with the database.
  pool.on('error', () => {});
  const listening = new WeakSet<pg.PoolClient>();
  return {
    connect: () => {
      if (pool.waitingCount >= POSTGRES_POOL.maxWaiting) {
        return Promise.reject(
          new PosternError('unavailable', `The Router has ${pool.waitingCount} requests waiting for a database connection; retry in a few seconds.`, {
            retryAfterSeconds: 5,
            dependency: 'database',
            fault: 'overloaded',
          }),
        );
      }
      return pool.connect().then((client) => {
        // A connection lost while checked out (between the queries of a transaction, say) is an
        // 'error' event on the client, which the pool no longer listens to: the query in hand
        // fails and the client is discarded on release, but unheard the event ends the process.
        if (!listening.has(client)) {
          listening.add(client);
          client.on('error', () => {});
        }
        return client;
      });
    },
    end: () => pool.end(),
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
    const checkpointer = location.path === ':memory:' ? null : startWalCheckpointer(sqlite, location.path, (message) =>
      process.emitWarning(`SQLite checkpoint thread: ${message}; the Router's connection checkpoints by itself meanwhile.`),
    );
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: routerSqlite(sqlite, { onClose: () => void checkpointer?.stop() }) }) });
  } else {
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: postgresPool(location.url) }) });
  }
  await migrateToLatest(db);
  return db;
}
