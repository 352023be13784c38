/**
 * The Router's PostgreSQL pool, on Node and on Deno (both run the `pg` package): sized and
 * bounded so that a database that is away or slow costs clear errors, not a crash, a hang or
 * unbounded memory (docs/operations/dependencies.md).
 */
import type { PostgresPool } from 'kysely';
import pg from 'pg';
import { PosternError } from '../../core/errors.ts';
import { DATABASE_RETRY_AFTER_SECONDS } from '../http/errors.ts';

// PostgreSQL returns BIGINT as text to protect precision; our bigints are milliseconds, well inside 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

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

export function postgresPool(url: string): PostgresPool {
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
            retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
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
