/**
 * The measured server, in its own process so that the runner can read its CPU time from
 * /proc: either a Postern Router (the Node adapter `startNodeRouter`, SQLite in --data-dir,
 * production defaults: invitation-only registration, info logs to a file, audit events,
 * replay cache, the rotation scheduler) or the reference, a bare Hono app with one JSON POST
 * route served by the same adapter library (@hono/node-server).
 *
 *   node --import tsx test/bench/vault-api/server.ts --setup postern|hono [--data-dir DIR]
 */
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { startNodeRouter } from '../../../router/adapters/node/index.ts';
import { emitToParent, serveParent } from '../gateways/ipc.ts';
import { startCpuProfile } from '../gateways/profiler.ts';
import { ECHO_PATH } from './fixture.ts';

const { values } = parseArgs({ options: { setup: { type: 'string' }, 'data-dir': { type: 'string' } } });

let stopProfile: ((path: string) => Promise<void>) | null = null;
let loopDelay: IntervalHistogram | null = null;
const profiling = {
  /** Event-loop delay over the measured window: how long a request ready to run waited for the loop. */
  loopDelayStart: async () => {
    loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    return true;
  },
  loopDelayStop: async () => {
    if (!loopDelay) return null;
    loopDelay.disable();
    const delay = { p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
    loopDelay = null;
    return delay;
  },
  profileStart: async () => {
    stopProfile = await startCpuProfile();
    return true;
  },
  profileStop: async (args: { path: string }) => {
    await stopProfile?.(args.path);
    stopProfile = null;
    return args.path;
  },
};

if (values.setup === 'postern') {
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error('--data-dir is required for the postern setup');
  const running = await startNodeRouter({ dataDir, port: 0 });
  serveParent({
    ...profiling,
    stop: async () => {
      await running.close();
      setTimeout(() => process.exit(0), 100);
      return true;
    },
  });
  emitToParent('listening', { url: running.url, pid: process.pid });
} else if (values.setup === 'hono') {
  const app = new Hono();
  app.post(ECHO_PATH, async (c) => {
    const body = await c.req.json<Record<string, unknown>>();
    return c.json({ ok: true, echo: body });
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  serveParent({
    ...profiling,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as import('node:http').Server).closeAllConnections?.();
      await closed;
      setTimeout(() => process.exit(0), 100);
      return true;
    },
  });
  emitToParent('listening', { url: `http://127.0.0.1:${port}`, pid: process.pid });
} else {
  throw new Error('--setup must be postern or hono');
}
