/**
 * The Router as one Hono app. It imports no runtime: adapters in router/adapters/* build
 * RouterDeps (storage, keys, client address, WebSocket upgrade) and serve `app.fetch`.
 */
import { Hono } from 'hono';
import { deriveRouterSubkeys, toBase64Url } from '../core/crypto/index.ts';
import { PosternError } from '../core/errors.ts';
import { GATEWAY_WS_PATH } from '../core/protocol/gateway-wire.ts';
import { LocalBus, type ClusterBus } from './cluster/bus.ts';
import { DEFAULT_LIMITS, type RouterDeps, type RouterLimits } from './deps.ts';
import { GatewayHub } from './gateway/hub.ts';
import type { GatewayConnection } from './gateway/connection.ts';
import { startHead } from './head/scheduler.ts';
import { DatabaseHealth } from './health/database-health.ts';
import { DATABASE_RETRY_AFTER_SECONDS, errorResponse } from './http/errors.ts';
import { stickyWorkerCookie } from './http/sticky.ts';
import { handleSecretsOperation } from './secrets/endpoint.ts';
import { handleVaultCommand } from './vault-api/endpoint.ts';

export const ROUTER_VERSION = '0.1.0';

export interface Router {
  app: Hono;
  hub: GatewayHub;
  /** The database's state as /healthz and /readyz report it. */
  database: DatabaseHealth;
  close(): Promise<void>;
}

export function createRouter(deps: RouterDeps): Router {
  const limits: RouterLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const now = deps.now ?? Date.now;
  const app = new Hono();
  const bus: ClusterBus = deps.cluster?.bus ?? new LocalBus();
  const hub = new GatewayHub({
    db: deps.db,
    logger: deps.logger,
    workerId: deps.cluster?.workerId ?? 'embedded',
    bus,
    now,
    ...(deps.heartbeat ? { heartbeatIntervalMs: deps.heartbeat.intervalMs, heartbeatTimeoutMs: deps.heartbeat.timeoutMs } : {}),
  });
  // Derived once: the signing key and the fake-salt key (core/crypto/router-subkeys.ts).
  const subkeys = deriveRouterSubkeys(deps.keys.privateKey);
  const services = { hub, limits, now, subkeys };

  const database = new DatabaseHealth(deps.db, deps.logger, now);
  app.onError((err, c) => {
    database.noteError(err);
    return errorResponse(c, err, deps.logger);
  });
  app.notFound((c) => c.json(new PosternError('not_found', `No route for ${c.req.method} ${c.req.path}.`).toJSON(), 404));

  // Liveness: 200 while the process answers, saying what is down ("degraded"); a supervisor
  // restarts a process that stops answering, not one whose database is away.
  app.get('/healthz', async (c) => {
    const db = await database.check();
    const busState = bus.status?.();
    const ok = db.ok && (busState?.ok ?? true);
    return c.json({
      status: ok ? 'ok' : 'degraded',
      version: deps.version ?? ROUTER_VERSION,
      worker: hub.workerId,
      gateways: hub.size,
      database: db,
      ...(busState ? { bus: busState } : {}),
    });
  });
  // Readiness: 503 while the database is away, so a load balancer drains this Router meanwhile.
  app.get('/readyz', async (c) => {
    const db = await database.check();
    if (db.ok) return c.json({ ready: true, database: db });
    return c.json({ ready: false, database: db }, 503, { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) });
  });
  app.get('/api/v1/router-key', (c) =>
    c.json({
      publicKey: toBase64Url(deps.keys.publicKey),
      algorithm: 'ecies-p256-hkdf-sha256-aes256gcm',
      // Devices pin this at init and check the Router's signed statements with it (script approvals).
      signingKey: toBase64Url(subkeys.signing.publicKey),
      signingAlgorithm: 'ecdsa-p256-sha256',
    }),
  );
  // Scale-out: vault responses name their Worker so the load balancer keeps the vault on it.
  if (deps.cluster) app.use('/api/v1/vault/*', stickyWorkerCookie(deps.cluster.workerId));
  app.post('/api/v1/vault/:command', (c) => handleVaultCommand(c, deps, services));
  app.post('/api/v1/secrets/:operation', (c) => handleSecretsOperation(c, deps, limits));

  if (deps.upgradeWebSocket) {
    const upgrade = deps.upgradeWebSocket(app);
    app.get(
      GATEWAY_WS_PATH,
      upgrade((c) => {
        const clientIp = deps.clientIp(c);
        let conn: GatewayConnection | null = null;
        return {
          onOpen: (_event, ws) => {
            conn = hub.accept({ send: (text) => ws.send(text), close: (code, reason) => ws.close(code, reason) }, clientIp);
          },
          onMessage: (event) => void conn?.receive(event.data),
          onClose: () => conn?.close(1000, 'socket closed'),
          onError: () => conn?.close(1011, 'socket error'),
        };
      }),
    );
  } else {
    // The Node adapter takes gateway upgrades before they reach Hono (adapters/node/gateway-socket.ts),
    // so only a plain request, or an upgrade on a runtime that holds no gateways, lands here.
    app.get(GATEWAY_WS_PATH, (c) => {
      c.header('Upgrade', 'websocket');
      return c.json(
        new PosternError('bad_request', 'Gateways connect here with a WebSocket upgrade (postern-gateway does this); a plain request gets nothing.').toJSON(),
        426,
      );
    });
  }

  // The Head (rotation schedules) stops before the hub, whose close answers rotations still in
  // flight with controller_down; then their outcomes are recorded while storage is still open.
  const head = startHead(deps, { hub, now });
  return {
    app,
    hub,
    database,
    close: async () => {
      await head?.stop();
      await hub.close();
      await head?.drain();
      database.close();
    },
  };
}

export function createRouterApp(deps: RouterDeps): Hono {
  return createRouter(deps).app;
}
