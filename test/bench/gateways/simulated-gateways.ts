/**
 * The simulated gateways, in their own process so the measured Worker's memory holds only the
 * server side of each connection. Started by run.ts.
 *
 * --mode postern: one gateway per provisioned identity, answering `gateway-info` (the no-op
 *   action) at once with a small `ok` result. The Router sees what production gateways send:
 *   the challenge signed with the device key, a WebSocket ping every 10 s, pongs, results.
 *     --client lean (default): a thin client speaking that protocol with `ws` directly: frames
 *       parsed with JSON.parse (the Router is trusted here), one shared 10 ms timer driving
 *       all heartbeats, no reconnect. A real gateway holds ONE connection in its own process;
 *       10,000 full clients in one process make the simulator's own GC and timers part of
 *       every round trip, which is what this client keeps small.
 *     --client routerlink: the real `RouterLink` (gateway/link) per identity: zod-validated
 *       frames, its own heartbeat timer, reconnect with backoff. Heavier; a fidelity check.
 * --mode echo: plain `ws` clients that send every frame straight back (the reference).
 *
 *   node --import tsx test/bench/gateways/simulated-gateways.ts --mode postern|echo --url URL
 *        [--keys FILE] [--client lean|routerlink] [--ping-ms N (lean only)]
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { ecdsaSign, fromBase64Url, toBase64Url } from '../../../core/crypto/index.ts';
import { encodeFrame, gatewayAuthBytes, HEARTBEAT_INTERVAL_MS, type RouterToGateway } from '../../../core/protocol/gateway-wire.ts';
import { gatewaySocketUrl, RouterLink, type LinkState } from '../../../gateway/link/router-link.ts';
import { serveParent, sleep } from './ipc.ts';
import { meterGc } from './load.ts';
import { startCpuProfile } from './profiler.ts';
import type { BenchGatewayKey } from './provision.ts';
import { silentLogger } from '../../../core/logger.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    url: { type: 'string' },
    keys: { type: 'string' },
    client: { type: 'string', default: 'lean' },
    'ping-ms': { type: 'string' },
  },
});
const mode = values.mode;
const url = values.url;
const clientKind = values.client;
if ((mode !== 'postern' && mode !== 'echo') || !url || (clientKind !== 'lean' && clientKind !== 'routerlink')) {
  throw new Error('usage: --mode postern|echo --url URL [--keys FILE] [--client lean|routerlink]');
}
const keys: BenchGatewayKey[] = mode === 'postern' ? (JSON.parse(readFileSync(values.keys ?? '', 'utf8')) as BenchGatewayKey[]) : [];

const VERSION = 'bench-1';
const quiet = silentLogger;

interface Counters {
  opened: number;
  online: number;
  drops: number;
  actions: number;
  refusals: Record<string, number>;
}
const counters: Counters = { opened: 0, online: 0, drops: 0, actions: 0, refusals: {} };

interface Client {
  start(): void;
  /** Resolves true once usable, false if not within `ms` (it may still get there later). */
  ready(ms: number): Promise<boolean>;
  stop(): Promise<void>;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer!: NodeJS.Timeout;
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function gatewayClient(key: BenchGatewayKey): Client {
  let previous: LinkState = 'idle';
  const link = new RouterLink({
    server: url!,
    clientId: key.clientId,
    privateKey: key.privateKey,
    version: VERSION,
    logger: quiet,
    onAction: async (frame) => {
      counters.actions++;
      return frame.action === 'gateway-info' ? { code: 'ok', data: { version: VERSION } } : { code: 'ok' };
    },
    onStateChange: (state, detail) => {
      if (state === 'online' && previous !== 'online') counters.online++;
      if (previous === 'online' && state !== 'online') {
        counters.online--;
        counters.drops++;
      }
      if (state === 'waiting' && detail?.code) counters.refusals[detail.code] = (counters.refusals[detail.code] ?? 0) + 1;
      previous = state;
    },
  });
  return {
    start: () => link.start(),
    ready: (ms) => withTimeout(link.whenOnline(), ms),
    stop: () => link.stop(),
  };
}

/**
 * All lean clients' heartbeats: 1,000 slots of 10 ms, each client pinging once per 10 s, so
 * the pings reach the Router spread out as independent gateways' would (10 at a time at
 * 10,000 gateways), not in bursts.
 */
const TICK_MS = 10;
// RouterLink pings every min(Router's heartbeatMs, 10 s); --ping-ms overrides it (a what-if).
const SLOTS = Math.round(Number(values['ping-ms'] ?? HEARTBEAT_INTERVAL_MS) / TICK_MS);
const slots: Set<WebSocket>[] = Array.from({ length: SLOTS }, () => new Set());
let tick = 0;
let wheel: NodeJS.Timeout | null = null;
// Like RouterLink: a WebSocket ping control frame, which the Router's ws answers by itself.
function beat(): void {
  for (const ws of slots[tick++ % SLOTS]!) if (ws.readyState === WebSocket.OPEN) ws.ping();
}

function leanGatewayClient(key: BenchGatewayKey, index: number): Client {
  let socket: WebSocket | null = null;
  let online = false;
  let readied!: () => void;
  const ready = new Promise<void>((resolve) => (readied = resolve));
  const privateKey = fromBase64Url(key.privateKey);
  return {
    start() {
      const ws = new WebSocket(gatewaySocketUrl(url!), { handshakeTimeout: 10_000, maxPayload: 1024 * 1024 });
      socket = ws;
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const frame = JSON.parse((data as Buffer).toString('utf8')) as RouterToGateway;
        switch (frame.t) {
          case 'challenge': {
            const timestamp = Date.now();
            // Nothing else comes before the Router has this answer, so signing asynchronously reorders nothing.
            void ecdsaSign(privateKey, gatewayAuthBytes(frame.nonce, timestamp, key.clientId)).then(
              (signature) =>
                ws.send(encodeFrame({ t: 'auth', clientId: key.clientId, nonce: frame.nonce, timestamp, version: VERSION, signature: toBase64Url(signature) })),
              () => (counters.refusals['signing failed'] = (counters.refusals['signing failed'] ?? 0) + 1),
            );
            return;
          }
          case 'ready':
            online = true;
            counters.online++;
            slots[index % SLOTS]!.add(ws);
            wheel ??= setInterval(beat, TICK_MS);
            readied();
            return;
          case 'ping':
            ws.send(encodeFrame({ t: 'pong', id: frame.id }));
            return;
          case 'action':
            counters.actions++;
            ws.send(encodeFrame({ t: 'result', id: frame.id, code: 'ok', data: { version: VERSION } }));
            return;
          case 'error':
            counters.refusals[frame.code] = (counters.refusals[frame.code] ?? 0) + 1;
            return;
          case 'pong':
            return;
        }
      });
      ws.on('close', (code) => {
        slots[index % SLOTS]!.delete(ws);
        if (!online) return;
        online = false;
        counters.online--;
        counters.drops++;
        counters.refusals[`close ${code}`] = (counters.refusals[`close ${code}`] ?? 0) + 1;
      });
      ws.on('error', () => {});
    },
    ready: (ms) => withTimeout(ready, ms),
    async stop() {
      online = false;
      socket?.terminate();
    },
  };
}

function echoClient(): Client {
  let socket: WebSocket | null = null;
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  return {
    start() {
      const ws = new WebSocket(gatewaySocketUrl(url!), { handshakeTimeout: 10_000 });
      socket = ws;
      let isOpen = false;
      ws.on('open', () => {
        isOpen = true;
        counters.online++;
        opened();
      });
      ws.on('message', (data, isBinary) => {
        counters.actions++;
        ws.send(data as Buffer, { binary: isBinary });
      });
      ws.on('close', (code) => {
        if (isOpen) {
          isOpen = false;
          counters.online--;
          counters.drops++;
          counters.refusals[String(code)] = (counters.refusals[String(code)] ?? 0) + 1;
        }
      });
      ws.on('error', () => {});
    },
    ready: (ms) => withTimeout(open, ms),
    async stop() {
      socket?.terminate();
    },
  };
}

const clients: Client[] = [];
const eld = monitorEventLoopDelay({ resolution: 1 });
let gcMeter: ReturnType<typeof meterGc> | null = null;
let stopProfile: ((path: string) => Promise<void>) | null = null;

serveParent({
  /** Opens clients until `upTo` exist, `concurrency` handshakes at a time. */
  connect: async (args: { upTo: number; concurrency: number; perClientTimeoutMs: number; deadlineMs: number }) => {
    const started = Date.now();
    const deadline = started + args.deadlineMs;
    const target = mode === 'postern' ? Math.min(args.upTo, keys.length) : args.upTo;
    let failed = 0;
    const lane = async () => {
      while (clients.length < target && Date.now() < deadline) {
        const index = clients.length;
        const client = mode === 'echo' ? echoClient() : clientKind === 'lean' ? leanGatewayClient(keys[index]!, index) : gatewayClient(keys[index]!);
        clients.push(client);
        counters.opened++;
        client.start();
        if (!(await client.ready(args.perClientTimeoutMs))) failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, lane));
    return { clients: clients.length, online: counters.online, failed, elapsedMs: Date.now() - started };
  },
  /** Event-loop delay and GC pauses of this process between monitor(true) and monitor(false). */
  monitor: async (args: { on: boolean; cpuProfilePath?: string }) => {
    if (args.on) {
      if (args.cpuProfilePath) stopProfile = await startCpuProfile();
      eld.reset();
      eld.enable();
      gcMeter = meterGc();
      gcMeter.start();
      return null;
    }
    eld.disable();
    if (stopProfile && args.cpuProfilePath) await stopProfile(args.cpuProfilePath);
    stopProfile = null;
    const gc = gcMeter?.stop() ?? null;
    gcMeter = null;
    return { eventLoopDelayMs: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 }, gc };
  },
  stats: () => ({ ...counters, cpu: process.cpuUsage(), rss: process.memoryUsage().rss }),
  stop: async () => {
    if (wheel) clearInterval(wheel);
    const CHUNK = 2_000;
    for (let i = 0; i < clients.length; i += CHUNK) await Promise.all(clients.slice(i, i + CHUNK).map((c) => c.stop().catch(() => {})));
    setTimeout(() => process.exit(0), 50);
    await sleep(0);
    return true;
  },
});
