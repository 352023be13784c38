/**
 * WHAT-IF, not production code: the Node Router with its gateway WebSocket accepted by `ws`
 * directly instead of through Hono (@hono/node-ws), to measure a proposed change to
 * router/adapters/node/server.ts with the same harness (setup `postern-ws-direct`).
 *
 * Same Router core (createRouter, the same GatewayHub, auth, heartbeats, storage, logs); only
 * the upgrade path differs: the upgrade request, Hono Context, Request and URL objects are
 * not kept alive for the connection's lifetime, and frames reach `GatewayConnection.receive`
 * without a MessageEvent per frame.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import { GATEWAY_WS_PATH } from '../../../core/protocol/gateway-wire.ts';
import { createRouter } from '../../../router/app.ts';
import { loadOrCreateRouterKeys, nodeClientIp, nodeLogger, openStorage } from '../../../router/adapters/node/index.ts';

export async function startDirectWsRouter(options: { dataDir: string; heartbeat?: { intervalMs: number; timeoutMs: number } }) {
  const db = await openStorage({ kind: 'sqlite', path: join(options.dataDir, 'postern.db') });
  const keys = loadOrCreateRouterKeys(options.dataDir);
  const logger = nodeLogger({ dataDir: options.dataDir });
  // No upgradeWebSocket: the app gets no gateway route; the upgrade is handled below.
  const router = createRouter({ db, keys, logger, clientIp: nodeClientIp(false), ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}) });
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: router.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    if (!req.url || new URL(req.url, 'http://router').pathname !== GATEWAY_WS_PATH) {
      socket.destroy();
      return;
    }
    // Read what the connection needs from the request here, so no closure below keeps it.
    const address = req.socket.remoteAddress ?? 'unknown';
    const clientIp = address.startsWith('::ffff:') ? address.slice(7) : address;
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, clientIp));
  });
  const accept = (ws: import('ws').WebSocket, clientIp: string) => {
    const conn = router.hub.accept({ send: (text) => ws.send(text), close: (code, reason) => ws.close(code, reason) }, clientIp);
    ws.on('message', (data, isBinary) => void conn.receive(isBinary ? null : (data as Buffer).toString('utf8')));
    ws.on('close', () => conn.close(1000, 'socket closed'));
    ws.on('error', () => conn.close(1011, 'socket error'));
  };
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    db,
    router,
    async close() {
      await router.close();
      for (const ws of wss.clients) ws.terminate();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as import('node:http').Server).closeAllConnections?.();
      await closed;
      await db.destroy();
      logger.flush();
    },
  };
}
