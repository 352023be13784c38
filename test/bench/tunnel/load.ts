/**
 * Child process of test/bench/tunnel/run.ts, in one of two roles (argv[2]):
 *
 * - `targets`: the target servers every setup forwards to. A **sink** that reads a connection
 *   to EOF, hashing (SHA-256, or only counting with --hash none) and counting, then answers
 *   `<hex> <bytes>\n` and closes (so the reply only comes after a clean half-close); and an
 *   **echo** server that greets each connection with a `size`-byte banner (the server speaks
 *   first, as SSH, MySQL and SMTP servers do: the client knows the whole path is up when the
 *   banner arrives) and then echoes everything. It answers `progress` with what the sink's
 *   latest connection has received so far and its longest pause between two reads.
 * - `client`: the load generator. `bulk`: one connection, writes `bytes` (a fixed 4 MiB random
 *   block, repeated) in 256 KiB writes honouring back-pressure, half-closes, waits for the reply
 *   and checks it against the hash it computed itself. `rr`: `parallel` connections opened at
 *   once; each waits for the banner (setup time: connect() called → banner fully received), then
 *   does `rounds` closed-loop round trips of `size` bytes → `size` bytes (latency per round trip),
 *   then half-closes.
 *
 * Both stay out of the runner's process, which hosts the Router and the Relay (TunnelLab), so
 * that the Relay's CPU time is the runner's, and the client's and the sink's are their own.
 * Socket options: TCP_NODELAY on every socket of ours (client and targets).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface BulkRequest {
  type: 'bulk';
  id: number;
  port: number;
  bytes: number;
  maxMs: number;
}
export interface BulkResult {
  type: 'bulk';
  id: number;
  ok: boolean;
  /** connect() → connected, ms. */
  connectMs: number;
  /** First write → reply received, ms (or until the time limit). */
  ms: number;
  written: number;
  reply: string;
  verified: boolean;
  timeout: boolean;
  error?: string;
}
export interface RrRequest {
  type: 'rr';
  id: number;
  port: number;
  parallel: number;
  rounds: number;
  size: number;
  maxMs: number;
}
export interface RrResult {
  type: 'rr';
  id: number;
  /** connect() → banner received, ms, per connection that got its banner. */
  setupMs: number[];
  /** Per round trip, ms. */
  rttMs: number[];
  /** Connections that did not complete all rounds (error, early close or time limit). */
  failed: number;
  errors: string[];
  /** First connect() → last connection done, ms. */
  wallMs: number;
  timeout: boolean;
}
export interface SinkProgress {
  type: 'progress';
  id: number;
  bytes: number;
  maxGapMs: number;
  connections: number;
}

const role = process.argv[2];
const send = (m: unknown) => process.send!(m);

if (role === 'targets') {
  const hashing = process.argv[3] !== 'none';
  const size = Number(process.argv[4] ?? 64);
  let current = { bytes: 0, maxGapMs: 0 };
  let connections = 0;
  const sink = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    connections++;
    const hash = hashing ? createHash('sha256') : null;
    const stats = { bytes: 0, maxGapMs: 0 };
    current = stats;
    let last = 0;
    socket.on('data', (d: Buffer) => {
      const now = performance.now();
      if (last && now - last > stats.maxGapMs) stats.maxGapMs = now - last;
      last = now;
      hash?.update(d);
      stats.bytes += d.length;
    });
    socket.on('end', () => socket.end(`${hash ? hash.digest('hex') : '-'} ${stats.bytes}\n`));
    socket.on('error', () => socket.destroy());
  });
  const banner = Buffer.alloc(size, 0x42);
  const echo = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.write(banner);
    socket.pipe(socket);
  });
  await Promise.all([sink, echo].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  process.on('message', (m: { type: string; id: number }) => {
    if (m.type === 'progress') send({ type: 'progress', id: m.id, bytes: current.bytes, maxGapMs: current.maxGapMs, connections } satisfies SinkProgress);
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', sinkPort: (sink.address() as { port: number }).port, echoPort: (echo.address() as { port: number }).port });
} else if (role === 'client') {
  const hashing = process.argv[3] !== 'none';
  const BLOCK = randomBytes(4 * 1024 * 1024);
  const WRITE = 256 * 1024;
  const expected = new Map<number, string>();
  const expectedHash = (bytes: number): string => {
    if (!hashing) return '-';
    let h = expected.get(bytes);
    if (h === undefined) {
      const hash = createHash('sha256');
      for (let off = 0; off < bytes; off += BLOCK.length) hash.update(BLOCK.subarray(0, Math.min(BLOCK.length, bytes - off)));
      h = hash.digest('hex');
      expected.set(bytes, h);
    }
    return h;
  };

  const bulk = async (req: BulkRequest): Promise<BulkResult> => {
    const want = `${expectedHash(req.bytes)} ${req.bytes}`;
    const c0 = performance.now();
    const socket = createConnection({ host: '127.0.0.1', port: req.port, allowHalfOpen: true, noDelay: true });
    let failure: string | undefined;
    let closed = false;
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => resolve());
      socket.on('close', () => {
        closed = true;
        resolve();
      });
      socket.on('error', (e) => {
        failure ??= (e as NodeJS.ErrnoException).code ?? e.message;
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      socket.once('connect', resolve);
      socket.once('close', resolve);
    });
    const connectMs = performance.now() - c0;
    const t0 = performance.now();
    let timeout = false;
    const timer = setTimeout(() => {
      timeout = true;
      socket.destroy();
    }, req.maxMs);
    let written = 0;
    let off = 0;
    while (written < req.bytes && !closed && !timeout && !failure) {
      const n = Math.min(WRITE, req.bytes - written, BLOCK.length - off);
      const ok = socket.write(BLOCK.subarray(off, off + n));
      written += n;
      off = (off + n) % BLOCK.length;
      if (!ok)
        await new Promise<void>((r) => {
          const go = () => {
            socket.off('drain', go);
            socket.off('close', go);
            r();
          };
          socket.on('drain', go);
          socket.on('close', go);
        });
    }
    if (!closed && !timeout) socket.end();
    await done;
    const ms = performance.now() - t0;
    clearTimeout(timer);
    socket.destroy();
    const reply = Buffer.concat(chunks).toString('utf8').trim();
    const verified = reply === want;
    return {
      type: 'bulk',
      id: req.id,
      ok: verified && !timeout && !failure,
      connectMs,
      ms,
      written,
      reply,
      verified,
      timeout,
      ...(failure ? { error: failure } : {}),
    };
  };

  const rr = async (req: RrRequest): Promise<RrResult> => {
    const setupMs: number[] = [];
    const rttMs: number[] = [];
    const errors: string[] = [];
    const sockets = new Set<Socket>();
    let failed = 0;
    let timeout = false;
    const request = Buffer.alloc(req.size, 0x61);
    const start = performance.now();
    const timer = setTimeout(() => {
      timeout = true;
      for (const s of sockets) s.destroy();
    }, req.maxMs);
    const one = (): Promise<void> =>
      new Promise<void>((resolve) => {
        const c0 = performance.now();
        const socket = createConnection({ host: '127.0.0.1', port: req.port, allowHalfOpen: true, noDelay: true });
        sockets.add(socket);
        let got = 0;
        let round = -1; // -1: waiting for the banner
        let sentAt = 0;
        let finished = false;
        const finish = (error?: string) => {
          if (finished) return;
          finished = true;
          sockets.delete(socket);
          if (round < req.rounds) {
            failed++;
            if (error && errors.length < 20) errors.push(error);
          }
          socket.destroy();
          resolve();
        };
        socket.on('data', (d: Buffer) => {
          got += d.length;
          while (got >= req.size) {
            got -= req.size;
            const now = performance.now();
            if (round < 0) setupMs.push(now - c0);
            else rttMs.push(now - sentAt);
            round++;
            if (round < req.rounds) {
              sentAt = performance.now();
              socket.write(request);
            } else {
              socket.end();
            }
          }
        });
        socket.on('end', () => finish(round < req.rounds ? `closed after ${Math.max(round, 0)} rounds${round < 0 ? ' (no banner)' : ''}` : undefined));
        socket.on('close', () => finish(timeout ? 'time limit' : 'closed'));
        socket.on('error', (e) => finish((e as NodeJS.ErrnoException).code ?? e.message));
      });
    await Promise.all(Array.from({ length: req.parallel }, one));
    clearTimeout(timer);
    return { type: 'rr', id: req.id, setupMs, rttMs, failed, errors, wallMs: performance.now() - start, timeout };
  };

  process.on('message', (m: BulkRequest | RrRequest | { type: 'prepare'; id: number; bytes: number }) => {
    if (m.type === 'bulk') void bulk(m).then(send);
    else if (m.type === 'rr') void rr(m).then(send);
    else if (m.type === 'prepare') {
      expectedHash(m.bytes);
      send({ type: 'prepare', id: m.id });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
} else {
  console.error(`load.ts: unknown role ${role}`);
  process.exit(2);
}
