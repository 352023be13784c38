/**
 * Start the Router on Node: storage (SQLite by default), the kept key pair, pino logs,
 * and @hono/node-server. Used by `postern server start` and by tests.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import type { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../../../core/storage/schema.ts';
import { createRouter, type Router } from '../../app.ts';
import type { ClusterBus } from '../../cluster/bus.ts';
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
  /** Scale-out: this Worker's id and the bus (NATS) to the other Router processes. */
  cluster?: { workerId: string; bus: ClusterBus };
  heartbeat?: { intervalMs: number; timeoutMs: number };
}

export interface RunningRouter {
  url: string;
  port: number;
  db: Kysely<Database>;
  router: Router;
  close(): Promise<void>;
}

export async function startNodeRouter(options: NodeRouterOptions): Promise<RunningRouter> {
  const db = await openStorage(parseStorageLocation(options.database ?? join(options.dataDir, 'postern.db')));
  const keys = loadOrCreateRouterKeys(options.dataDir);
  const logger = nodeLogger({ dataDir: options.dataDir, ...(options.logLevel ? { level: options.logLevel } : {}), stdout: options.logToStdout ?? false });
  // @hono/node-ws routes an upgrade through the app, which exists only after createRouter().
  let appRef: Hono | null = null;
  const ws = createNodeWebSocket({ app: { request: (...args: Parameters<Hono['request']>) => appRef!.request(...args) } as unknown as Hono });
  const router = createRouter({
    db,
    keys,
    logger,
    clientIp: nodeClientIp(options.trustProxy ?? false),
    upgradeWebSocket: () => ws.upgradeWebSocket,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.cluster ? { cluster: options.cluster } : {}),
    ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
  });
  appRef = router.app;
  const app = router.app;
  const host = options.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 8080, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  ws.injectWebSocket(server);
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port }, 'router listening');
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    db,
    router,
    async close() {
      await router.close();
      for (const socket of ws.wss.clients) socket.terminate();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets would otherwise hold close() open and be reused by clients later.
      (server as import('node:http').Server).closeAllConnections?.();
      await closed;
      await db.destroy();
      logger.flush();
    },
  };
}
