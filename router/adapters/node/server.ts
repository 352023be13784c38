/**
 * Start the Router on Node: storage (SQLite by default), the kept key pair, pino logs,
 * and @hono/node-server. Used by `postern server start` and by tests.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { Kysely } from 'kysely';
import type { Database } from '../../../core/storage/schema.ts';
import { createRouterApp } from '../../app.ts';
import type { RouterLimits } from '../../deps.ts';
import { nodeClientIp } from './conninfo.ts';
import { nodeLogger } from './logger.ts';
import { loadOrCreateRouterKeys } from './router-key.ts';
import { openStorage, parseStorageLocation } from './storage.ts';

export interface NodeRouterOptions {
  dataDir: string;
  port?: number;
  host?: string;
  /** A SQLite path or a postgres:// URL; default `<dataDir>/postern.db`. */
  database?: string;
  logLevel?: string;
  logToStdout?: boolean;
  trustProxy?: boolean;
  limits?: Partial<RouterLimits>;
}

export interface RunningRouter {
  url: string;
  port: number;
  db: Kysely<Database>;
  close(): Promise<void>;
}

export async function startNodeRouter(options: NodeRouterOptions): Promise<RunningRouter> {
  const db = await openStorage(parseStorageLocation(options.database ?? join(options.dataDir, 'postern.db')));
  const keys = loadOrCreateRouterKeys(options.dataDir);
  const logger = nodeLogger({ dataDir: options.dataDir, ...(options.logLevel ? { level: options.logLevel } : {}), stdout: options.logToStdout ?? false });
  const app = createRouterApp({ db, keys, logger, clientIp: nodeClientIp(options.trustProxy ?? false), ...(options.limits ? { limits: options.limits } : {}) });
  const host = options.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 8080, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port }, 'router listening');
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    db,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets would otherwise hold close() open and be reused by clients later.
      (server as import('node:http').Server).closeAllConnections?.();
      await closed;
      await db.destroy();
      logger.flush();
    },
  };
}
