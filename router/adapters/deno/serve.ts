/**
 * The Router on Deno: storage (PostgreSQL or node:sqlite), the key pair, console logs (JSON
 * lines) and Deno.serve. Two entries use it: `main.ts` (`deno run`, Deno.serve here) and
 * `serve-entry.ts` (`deno serve`, which owns the listener and can run `--parallel`).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../core/storage/schema.ts';
import { createRouter } from '../../app.ts';
import type { RouterLimits } from '../../deps.ts';
import { consoleLogger, type Logger } from '../../../core/logger.ts';
import { parseTrustedProxies } from '../../http/client-address.ts';
import { denoClientIp } from './conninfo.ts';
import { denoRuntime, type DenoServeHandlerInfo } from './deno-api.ts';
import { loadOrCreateRouterKeys } from './router-key.ts';
import { openStorage, parseStorageLocation } from './storage.ts';

export interface DenoRouterOptions {
  /** A SQLite path or a postgres:// URL; default `<dataDir>/postern.db`. */
  database?: string | undefined;
  /** Where the key file and the default SQLite database live. */
  dataDir?: string | undefined;
  /** base64url P-256 private key; wins over the key file. */
  routerKey?: string | undefined;
  port?: number | undefined;
  hostname?: string | undefined;
  /** Reverse proxies (CIDR ranges) whose X-Forwarded-For is believed. */
  trustedProxies?: readonly string[] | undefined;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | undefined;
  limits?: Partial<RouterLimits> | undefined;
}

/** The Router as a Deno fetch handler, with what it opened. */
export interface DenoRouter {
  fetch(request: Request, info: DenoServeHandlerInfo): Response | Promise<Response>;
  db: Kysely<Database>;
  logger: Logger;
  close(): Promise<void>;
}

export interface RunningDenoRouter {
  url: string;
  port: number;
  db: Kysely<Database>;
  close(): Promise<void>;
}

/** Read the Deno adapter's settings from POSTERN_* environment variables (see main.ts). */
export function optionsFromEnv(): DenoRouterOptions {
  const deno = denoRuntime();
  const env = (name: string): string | undefined => deno.env.get(name) || undefined;
  const level = env('POSTERN_LOG_LEVEL');
  const port = env('POSTERN_PORT');
  return {
    database: env('POSTERN_DATABASE'),
    dataDir: env('POSTERN_DATA_DIR'),
    routerKey: env('POSTERN_ROUTER_KEY'),
    hostname: env('POSTERN_HOST'),
    port: port === undefined ? undefined : Number(port),
    trustedProxies: env('POSTERN_TRUSTED_PROXIES')
      ?.split(',')
      .map((v) => v.trim())
      .filter((v) => v !== ''),
    logLevel: level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : undefined,
  };
}

export async function createDenoRouter(options: DenoRouterOptions): Promise<DenoRouter> {
  const database = options.database ?? (options.dataDir ? `${options.dataDir.replace(/\/+$/, '')}/postern.db` : undefined);
  if (!database) throw new Error('set POSTERN_DATABASE (a postgres:// URL or a SQLite path) or POSTERN_DATA_DIR');
  const keys = await loadOrCreateRouterKeys({ envValue: options.routerKey, dataDir: options.dataDir });
  const db = await openStorage(parseStorageLocation(database));
  const logger = consoleLogger(options.logLevel ?? 'info');
  const router = createRouter({
    db,
    keys,
    logger,
    clientIp: denoClientIp(parseTrustedProxies(options.trustedProxies ?? [])),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const app = router.app;
  return {
    // Hono hands the second argument on as `c.env`, where conninfo.ts finds the peer address.
    fetch: (request, info) => app.fetch(request, info),
    db,
    logger,
    close: async () => {
      await router.close();
      await db.destroy();
    },
  };
}

/** Start the Router with Deno.serve (port 0 picks a free port). */
export async function startDenoRouter(options: DenoRouterOptions): Promise<RunningDenoRouter> {
  const router = await createDenoRouter(options);
  const hostname = options.hostname ?? '127.0.0.1';
  const server = denoRuntime().serve({ hostname, port: options.port ?? 8080, onListen: () => {} }, router.fetch);
  const port = server.addr.port;
  router.logger.info({ runtime: 'deno', host: hostname, port }, 'router listening');
  return {
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
    port,
    db: router.db,
    async close() {
      await server.shutdown();
      await router.close();
    },
  };
}
