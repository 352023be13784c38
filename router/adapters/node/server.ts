/**
 * Start the Router on Node: storage (SQLite by default), the kept key pair, pino logs,
 * and @hono/node-server. Used by `postern server start` and by tests.
 *
 * Roles (the seed's Head and Workers): `embedded` (default) is both in one process;
 * `worker` holds gateway WebSockets and serves the vault and device APIs, runs no scheduler,
 * and sets the sticky cookie; `head` keeps the rotation schedule and serves nothing but
 * /healthz (it is not exposed to the internet). Head and Workers share PostgreSQL and talk
 * over the cluster bus (NATS, nats-bus.ts).
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { readNodeBody } from './body.ts';
import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../../../core/storage/schema.ts';
import { PosternError } from '../../../core/errors.ts';
import { createRouter, ROUTER_VERSION, type Router } from '../../app.ts';
import type { ClusterBus } from '../../cluster/bus.ts';
import type { RouterDeps, RouterLimits } from '../../deps.ts';
import type { RelayConfig } from '../../relay/ice-servers.ts';
import { parseTrustedProxies } from '../../http/client-address.ts';
import { nodeClientIp } from './conninfo.ts';
import { acceptGatewaySockets, type GatewaySockets } from './gateway-socket.ts';
import { nodeLogger } from './logger.ts';
import { loadOrCreateRouterKeys } from './router-key.ts';
import { openStorage, parseStorageLocation } from './storage.ts';

export type RouterRole = 'embedded' | 'head' | 'worker';

export interface NodeRouterOptions {
  dataDir: string;
  port?: number;
  host?: string;
  /** A SQLite path or a postgres:// URL; default `<dataDir>/postern.db`. */
  database?: string;
  logLevel?: string;
  logToStdout?: boolean;
  /** Reverse proxies (CIDR ranges) whose X-Forwarded-For is believed: `--trusted-proxy`. */
  trustedProxies?: readonly string[];
  /** Anyone may create an account (`--open-registration`); default: only the first one and invited ones. */
  openRegistration?: boolean;
  limits?: Partial<RouterLimits>;
  /** Scale-out: this process's id and the bus (NATS) to the other Router processes. */
  cluster?: { workerId: string; bus: ClusterBus };
  /** Default `embedded`; `head` and `worker` need `cluster` (the caller owns and closes the bus). */
  role?: RouterRole;
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** The Relay whose TURN credentials the Router hands out (the embedded one, or `postern relay start`'s). */
  relay?: RelayConfig;
}

export interface RunningRouter {
  role: RouterRole;
  url: string;
  port: number;
  db: Kysely<Database>;
  router: Router;
  close(): Promise<void>;
}

export async function startNodeRouter(options: NodeRouterOptions): Promise<RunningRouter> {
  const role = options.role ?? 'embedded';
  const location = parseStorageLocation(options.database ?? join(options.dataDir, 'postern.db'));
  if (role !== 'embedded') {
    if (!options.cluster) throw new PosternError('bad_request', `The ${role} role needs the cluster bus (NATS) to the other Router processes.`);
    if (location.kind !== 'postgres')
      throw new PosternError(
        'bad_request',
        `The ${role} role needs PostgreSQL shared by the Head and every Worker; SQLite is for the embedded single-process Router.`,
      );
  }
  const trustedProxies = parseTrustedProxies(options.trustedProxies ?? []);
  const db = await openStorage(location);
  const keys = loadOrCreateRouterKeys(options.dataDir);
  const logger = nodeLogger({
    dataDir: options.dataDir,
    ...(options.logLevel ? { level: options.logLevel } : {}),
    stdout: options.logToStdout ?? false,
    ...(options.cluster ? { base: { role, worker: options.cluster.workerId } } : {}),
  });
  const router = createRouter({
    db,
    keys,
    logger,
    clientIp: nodeClientIp(trustedProxies),
    readBody: readNodeBody,
    ...(options.openRegistration ? { openRegistration: true } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.cluster ? { cluster: options.cluster } : {}),
    ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
    ...(options.relay ? { relay: options.relay } : {}),
    // The rotation scheduler runs on the Head (and in the embedded Router), never on a Worker.
    ...headOption(role),
  });
  if (role !== 'head') await router.hub.recoverLostSessions();
  // Until the cluster bus has registered this process's subjects, other processes would get
  // "no responders" for the gateways about to connect here.
  await options.cluster?.bus.flush?.();
  const app = role === 'head' ? headApp(options.cluster!.workerId, router) : router.app;
  const host = options.host ?? '127.0.0.1';
  let server: ServerType;
  try {
    server = await new Promise((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: options.port ?? 8080, hostname: host }, () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    // Port taken or address not ours: release what was opened so the process can exit.
    await router.close().catch(() => {});
    await db.destroy().catch(() => {});
    await logger.flush();
    throw err;
  }
  // Gateway WebSockets (gateway-socket.ts); the Head holds none: gateways connect to Workers.
  const gatewaySockets: GatewaySockets | null =
    role === 'head' ? null : acceptGatewaySockets(server as import('node:http').Server, router.hub, { trustedProxies });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port, role }, role === 'head' ? 'router head running (health check only)' : 'router listening');
  return {
    role,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    db,
    router,
    async close() {
      await router.close();
      gatewaySockets?.terminateAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets would otherwise hold close() open and be reused by clients later.
      (server as import('node:http').Server).closeAllConnections?.();
      await closed;
      await db.destroy();
      await logger.flush();
    },
  };
}

/** The rotation scheduler runs where the Head runs; embedded keeps the core's default (on). */
function headOption(role: RouterRole): Pick<RouterDeps, 'head'> {
  if (role === 'head') return { head: true };
  if (role === 'worker') return { head: false };
  return {};
}

/** All a Head serves: its health, for the orchestrator. Nothing for vaults, devices or gateways. */
function headApp(headId: string, router: Router): Hono {
  const app = new Hono();
  app.get('/healthz', async (c) => {
    const db = await router.database.check();
    const bus = router.hub.busStatus();
    return c.json({ status: db.ok && bus.ok ? 'ok' : 'degraded', version: ROUTER_VERSION, role: 'head', head: headId, database: db, bus });
  });
  app.notFound((c) =>
    c.json(
      new PosternError('not_found', 'This is a Postern Router Head: it serves only /healthz. Vaults, devices and gateways talk to the Workers.').toJSON(),
      404,
    ),
  );
  return app;
}
