/**
 * The measured process, started by run.ts with --expose-gc: either a Postern Worker (the
 * Node Router, SQLite, production defaults: heartbeats, audit events, info logs) or the
 * reference, a bare `ws` echo server. It holds the connections the simulated-gateways process
 * opens, reports its memory on request and runs the open-loop load generator against its own
 * connections: the Router side calls `hub.deliver(uid, 'gateway-info', {}, timeout)`; the echo
 * side sends a frame of the same size and shape and waits for it to come back.
 *
 *   node --expose-gc --import tsx test/bench/gateways/worker.ts --setup postern|ws-echo --data-dir DIR [--heartbeat-ms N]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { WebSocketServer, type WebSocket } from 'ws';
import { newUid } from '../../../core/ids.ts';
import { startNodeRouter } from '../../../router/adapters/node/server.ts';
import { emitToParent, serveParent, sleep } from './ipc.ts';
import { openLoop, type LoadOptions } from './load.ts';
import { startAllocationProfile, startCpuProfile } from './profiler.ts';

const { values } = parseArgs({ options: { setup: { type: 'string' }, 'data-dir': { type: 'string' }, 'heartbeat-ms': { type: 'string' } } });
const setup = values.setup;
if (setup !== 'postern' && setup !== 'ws-echo') throw new Error('--setup must be postern or ws-echo');

/**
 * Memory after full GCs. `heapPhysical` is the resident part of V8's heap (all spaces); the
 * rest of the RSS (`rss - heapPhysical`) is native memory: Buffers, libuv handles, SQLite,
 * malloc. The benchmark charges a connection with the growth of `heapUsed` (live JS objects)
 * plus the growth of that native part, not of raw RSS: V8 keeps free heap pages resident and
 * releases them on its own timer (its young generation alone swings by ~20 MB), which makes
 * raw RSS deltas jump by tens of KB per connection either way at these counts.
 */
export interface MemorySample {
  rss: number;
  heapPhysical: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('worker.ts must run with --expose-gc');

function sample(): MemorySample {
  const m = process.memoryUsage();
  const heapPhysical = getHeapStatistics().total_physical_size;
  return { rss: m.rss, heapPhysical, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/**
 * Memory after full collections (several, so finalized objects are gone too). V8 hands freed
 * pages to a background unmapper, so the heap's physical size drops a moment before the RSS
 * does: sample until two readings 300 ms apart agree (at most 10 tries).
 */
async function measureMemory(): Promise<MemorySample> {
  for (let k = 0; k < 4; k++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await sleep(500);
  let previous = sample();
  for (let attempt = 0; attempt < 10; attempt++) {
    await sleep(300);
    const current = sample();
    const native = (m: MemorySample) => m.rss - m.heapPhysical;
    if (Math.abs(native(current) - native(previous)) < 256 * 1024 && Math.abs(current.heapUsed - previous.heapUsed) < 256 * 1024) return current;
    previous = current;
  }
  return previous;
}

interface LoadArgs extends LoadOptions {
  cpuProfilePath?: string;
  allocationProfilePath?: string;
}

/** Runs the load, optionally under the V8 CPU profiler and/or the sampling heap profiler. */
async function profiled<T>(args: LoadArgs, body: () => Promise<T>): Promise<T> {
  const stopCpu = args.cpuProfilePath ? await startCpuProfile() : null;
  const stopAlloc = args.allocationProfilePath ? await startAllocationProfile() : null;
  try {
    return await body();
  } finally {
    if (stopAlloc) await stopAlloc(args.allocationProfilePath!);
    if (stopCpu) await stopCpu(args.cpuProfilePath!);
  }
}

let stopPhaseProfile: ((path: string) => Promise<void>) | null = null;

const common = {
  /** The V8 CPU profiler around a phase the runner names (the connect phase; the load has its own). */
  phaseProfile: async (args: { on: boolean; path?: string }) => {
    if (args.on) stopPhaseProfile ??= await startCpuProfile();
    else if (stopPhaseProfile && args.path) {
      await stopPhaseProfile(args.path);
      stopPhaseProfile = null;
    }
    return true;
  },
  memory: () => measureMemory(),
  usage: () => ({ cpu: process.cpuUsage(), memory: process.memoryUsage() }),
  heapSnapshot: (args: { path: string }) => {
    gc!();
    return writeHeapSnapshot(args.path);
  },
};

if (setup === 'postern') {
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error('--data-dir is required for the postern setups');
  // Production defaults, except the heartbeat when the runner asks for another (an experiment).
  const heartbeatMs = Number(values['heartbeat-ms'] ?? 0);
  const heartbeat = heartbeatMs > 0 ? { heartbeat: { intervalMs: heartbeatMs, timeoutMs: Math.round(heartbeatMs * 2.5) } } : {};
  const running = await startNodeRouter({ dataDir, port: 0, ...heartbeat });
  const hub = running.router.hub;
  serveParent({
    ...common,
    size: () => hub.size,
    load: async (args: LoadArgs) => {
      const sessions = await running.db.selectFrom('gateway_sessions').select('gateway_uid').where('worker_id', '=', hub.workerId).execute();
      const uids = sessions.map((s) => s.gateway_uid).filter((uid) => hub.isConnectedHere(uid));
      if (uids.length === 0) throw new Error('no gateway is connected');
      const report = await profiled(args, () =>
        openLoop(args, () => hub.deliver(uids[Math.floor(Math.random() * uids.length)]!, 'gateway-info', {}, args.timeoutMs).then((r) => r.code)),
      );
      return { ...report, targets: uids.length };
    },
    stop: async () => {
      await running.close();
      setTimeout(() => process.exit(0), 100);
      return true;
    },
  });
  emitToParent('listening', { url: running.url, pid: process.pid });
} else {
  // The reference: what `ws` alone costs. Same library and upgrade path (noServer +
  // handleUpgrade) as the Router's Node adapter (gateway-socket.ts), nothing else: no auth, no
  // heartbeats, no per-request timer, no schema validation, no storage, no logs.
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const sockets: WebSocket[] = [];
  const pending = new Map<string, (code: string) => void>();
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on('message', (data) => {
        let id: unknown;
        try {
          id = (JSON.parse(data.toString()) as { id?: unknown }).id;
        } catch {
          return;
        }
        const resolve = typeof id === 'string' ? pending.get(id) : undefined;
        if (!resolve) return;
        pending.delete(id as string);
        resolve('ok');
      });
      ws.on('close', () => {
        const at = sockets.indexOf(ws);
        if (at < 0) return;
        sockets[at] = sockets[sockets.length - 1]!;
        sockets.pop();
      });
      ws.on('error', () => {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  serveParent({
    ...common,
    size: () => sockets.length,
    load: async (args: LoadArgs) => {
      if (sockets.length === 0) throw new Error('no client is connected');
      const targets = sockets.length;
      const report = await profiled(args, () =>
        openLoop(
          args,
          () =>
            new Promise<string>((resolve) => {
              // Same size and shape as the Router's action frame.
              const id = newUid();
              pending.set(id, resolve);
              sockets[Math.floor(Math.random() * sockets.length)]!.send(
                JSON.stringify({ t: 'action', id, action: 'gateway-info', params: {}, timeoutMs: args.timeoutMs }),
              );
            }),
        ),
      );
      for (const [, resolve] of pending) resolve('no_reply');
      pending.clear();
      return { ...report, targets };
    },
    stop: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      setTimeout(() => process.exit(0), 100);
      return true;
    },
  });
  emitToParent('listening', { url: `http://127.0.0.1:${port}`, pid: process.pid });
}
