/**
 * The relay's HTTP side door: `GET /metrics` (Prometheus text) and `GET /healthz` ("ok", or
 * 503 while the relay is closing). Loopback by default: the numbers name no secret, but they
 * describe traffic, so expose them beyond the host only on purpose. Anything else is 404, any
 * other method 405; the listener never reads a request body.
 */
import { createServer } from 'node:http';

export interface MetricsHttpOptions {
  /** Default 127.0.0.1. */
  readonly host?: string | undefined;
  /** 0 picks a free port. */
  readonly port: number;
  readonly render: () => string;
  readonly healthy: () => boolean;
}

export interface MetricsHttp {
  /** e.g. http://127.0.0.1:9641 */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsHttp(options: MetricsHttpOptions): Promise<MetricsHttp> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/healthz') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics or /healthz\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const ok = options.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(ok ? 'ok\n' : 'stopping\n');
      return;
    }
    let body: string;
    try {
      body = options.render();
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' })
      .end(req.method === 'HEAD' ? undefined : body);
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('metrics listener has no address');
  const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
