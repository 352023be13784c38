/**
 * Benchmark: Postern tunnels against raw TCP and OpenSSH `-L` port forwarding, on loopback,
 * against the same target servers, in one run. It measures; it asserts nothing.
 *
 *   npx tsx test/bench/tunnel/run.ts [--mib 256] [--setups raw,ssh,direct,relay,unpatched]
 *        [--parallel 100] [--rounds 100] [--size 64] [--max-seconds 120] [--warmup-mib 8]
 *        [--hash sha256|none] [--cpu-prof]
 *
 * Setups (each forwards to the same two servers, see load.ts):
 * - `raw`: the client connects to the target servers directly.
 * - `ssh`: OpenSSH `ssh -N -L` (default cipher, whatever this OpenSSH negotiates; it is printed)
 *   to a dedicated sshd this benchmark starts on 127.0.0.1 (temporary host key, authorized key
 *   and config; UsePAM no).
 * - `direct`: `postern tunnel start RECORD --json` through TunnelLab (real Router, real
 *   `postern-gateway`, werift with Postern's tuning); ICE picks the direct path.
 * - `relay`: the same with `--relay-only`: every datagram goes through Postern's TURN Relay.
 * - `unpatched`: as `direct`, but the gateway and both CLI processes load werift as shipped
 *   (the `werift-stock` package, through node/webrtc/testing/stock-werift-loader.mjs, with
 *   POSTERN_ALLOW_STOCK_WERIFT=1) instead of the `werift` that carries Postern's patch set
 *   (patches/werift+*.patch). The "werift" column shows what the CLI's UDP sockets really got:
 *   "tuned" when their receive buffer is the patched 4 MiB, "as shipped" when it is the kernel
 *   default — so a run where the stock package did not load shows up as "tuned".
 *
 * Per setup: a short warm-up (one `--warmup-mib` transfer and a few round trips, not recorded),
 * then
 * - **request/response** (first, on an idle path): `--parallel` connections opened at once; each
 *   waits for the echo server's `--size`-byte banner (**conn** = connect() called → banner
 *   received: the end-to-end setup time, for a tunnel including the stream open to the gateway
 *   and the gateway's dial), then `--rounds` closed-loop round trips of `--size` bytes
 *   (**rr** = write → full reply), then half-closes;
 * - **bulk**: one connection writes `--mib` MiB to the sink and half-closes; the sink answers
 *   with the SHA-256 and byte count of what it got. MB/s (10^6 B/s) and MiB/s from the first
 *   write to that reply; "ok" = the reply matches what was sent. After `--max-seconds` the
 *   connection is dropped and the row says how much the sink had received. "pause" = the
 *   sink's longest gap between two reads (SCTP retransmission timeouts show up here).
 *
 * CPU seconds (user+system, from /proc/PID/stat, children included) per phase: `fwd-c` is the
 * forwarding client (the `postern tunnel` CLI processes, or `ssh`), `fwd-s` the forwarding
 * server (`postern-gateway`, or the sshd process tree), `run` this runner process, which hosts
 * the Router and the Relay (so for `relay` it is mostly the Relay). "MB/CPU-s" is bulk bytes
 * per CPU-second of the busier forwarding process: what a dedicated core per side would carry,
 * the number to compare when the machine is busy. "mach/others%" is the whole machine's CPU
 * during the phase (100 = one core) and the part of it not spent by this benchmark's own
 * processes (neighbours): the machine is shared, so read every number next to it.
 *
 * The load client and the target servers run in two child processes (load.ts), so that they
 * compete with the forwarders only for CPU, not for an event loop. Results (with the client's
 * and servers' CPU too) go to test/bench/results/tunnel-<date>.json.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TunnelLab, type RunningTunnel } from '../../tunnel/lab.ts';
import type { BulkResult, RrResult, SinkProgress } from './load.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const TSX_LOADER = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const ALL_SETUPS = ['raw', 'ssh', 'direct', 'relay', 'unpatched'] as const;
type SetupName = (typeof ALL_SETUPS)[number];

const { values: opts } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    setups: { type: 'string', default: ALL_SETUPS.join(',') },
    parallel: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '100' },
    size: { type: 'string', default: '64' },
    'max-seconds': { type: 'string', default: '120' },
    'warmup-mib': { type: 'string', default: '8' },
    hash: { type: 'string', default: 'sha256' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const MIB = Number(opts.mib);
const PARALLEL = Number(opts.parallel);
const ROUNDS = Number(opts.rounds);
const SIZE = Number(opts.size);
const MAX_MS = Number(opts['max-seconds']) * 1000;
const WARMUP_MIB = Number(opts['warmup-mib']);
const HASH = opts.hash === 'none' ? 'none' : 'sha256';
const SETUPS = opts.setups.split(',').map((s) => s.trim()) as SetupName[];
for (const s of SETUPS) if (!ALL_SETUPS.includes(s)) throw new Error(`unknown setup ${s}; known: ${ALL_SETUPS.join(', ')}`);
for (const [k, v] of Object.entries({ mib: MIB, parallel: PARALLEL, rounds: ROUNDS, size: SIZE, 'max-seconds': MAX_MS, 'warmup-mib': WARMUP_MIB })) {
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number ≥ 0`);
}

// ------------------------------------------------------------------------------------ /proc

const TICK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime+stime+cutime+cstime, seconds. */
  cpu: number;
}
function readStat(pid: number): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return null;
  }
}
/** CPU seconds of these processes and all their live descendants (reaped ones are in cutime/cstime). */
function treeCpu(roots: number[]): number {
  if (roots.length === 0) return 0;
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) all.push(st);
  }
  const children = new Map<number, ProcStat[]>();
  for (const st of all) children.set(st.ppid, [...(children.get(st.ppid) ?? []), st]);
  const byPid = new Map(all.map((s) => [s.pid, s]));
  let sum = 0;
  const seen = new Set<number>();
  const walk = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const st = byPid.get(pid);
    if (st) sum += st.cpu;
    for (const c of children.get(pid) ?? []) walk(c.pid);
  };
  roots.forEach(walk);
  return sum;
}
/** Busy and total jiffies of the whole machine. */
function machine(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}
/** SO_RCVBUF of the UDP sockets of a process, as `ss` reports it (the kernel doubles what was asked). */
function udpRcvbufs(pid: number): number[] {
  const out = spawnSync('ss', ['-uamnp']).stdout?.toString() ?? '';
  const lines = out.split('\n');
  const rbs: number[] = [];
  lines.forEach((l, i) => {
    if (!l.includes(`pid=${pid},`)) return;
    const m = /rb(\d+)/.exec(lines[i + 1] ?? '');
    if (m) rbs.push(Number(m[1]));
  });
  return rbs;
}

// ------------------------------------------------------------------------------- children

interface Child {
  proc: ChildProcess;
  ask<T>(msg: Record<string, unknown>): Promise<T>;
}
let nextId = 1;
async function startChild(role: 'targets' | 'client'): Promise<{ child: Child; ready: Record<string, unknown> }> {
  const proc = fork(join(HERE, 'load.ts'), [role, HASH, String(SIZE)], { execArgv: ['--import', TSX_LOADER], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, (m: unknown) => void>();
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`load.ts ${role} exited ${code}`)));
    proc.on('message', (m: { type: string; id?: number }) => {
      if (m.type === 'ready') resolve(m as Record<string, unknown>);
      else if (m.id !== undefined) {
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      }
    });
  });
  return {
    ready,
    child: {
      proc,
      ask<T>(msg: Record<string, unknown>) {
        const id = nextId++;
        return new Promise<T>((resolve) => {
          waiting.set(id, resolve as (m: unknown) => void);
          proc.send({ ...msg, id });
        });
      },
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects and waits for `bytes` bytes (the echo banner, or "SSH-2.0" from sshd). */
function probe(port: number, bytes: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let got = 0;
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= bytes) done(true);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(false));
    setTimeout(() => done(false), 3000).unref();
  });
}

// ------------------------------------------------------------------------------------ sshd

interface Sshd {
  proc: ChildProcess;
  port: number;
  dir: string;
  key: string;
  version: string;
}
async function startSshd(): Promise<Sshd> {
  const SSHD = '/usr/sbin/sshd';
  if (spawnSync('test', ['-x', SSHD]).status !== 0) throw new Error(`${SSHD} is missing: install openssh-server (see scripts/services/sshd.sh)`);
  const dir = mkdtempSync(join(tmpdir(), 'postern-bench-sshd-'));
  for (const name of ['host_key', 'client_key']) {
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'postern-bench', '-f', join(dir, name)]);
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const port = await freePort();
  const conf = join(dir, 'sshd_config');
  writeFileSync(
    conf,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AllowTcpForwarding yes',
      'MaxStartups 200',
      'MaxSessions 200',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const version = (spawnSync(SSHD, ['-V']).stderr?.toString() ?? '').trim().split('\n')[0] ?? '';
  const proc = spawn(SSHD, ['-D', '-e', '-f', conf, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`sshd exited ${proc.exitCode}: ${err}`);
    if (await probe(port, 7)) return { proc, port, dir, key: join(dir, 'client_key'), version };
    await sleep(100);
  }
  proc.kill();
  throw new Error(`sshd did not answer on 127.0.0.1:${port}: ${err}`);
}

// ---------------------------------------------------------------------------------- setups

interface Prepared {
  sinkPort: number;
  echoPort: number;
  fwdClient: () => number[];
  fwdServer: () => number[];
  path: string;
  werift?: string;
  notes: string[];
  close(): Promise<void>;
}

let targets: Child;
let client: Child;
let sinkPort = 0;
let echoPort = 0;
let lab: TunnelLab | null = null;
let sinkUid = '';
let echoUid = '';
let gatewayMode: 'tuned' | 'off' | null = null;
let sshd: Sshd | null = null;

async function ensureLab(): Promise<TunnelLab> {
  if (lab) return lab;
  lab = await TunnelLab.start('bench');
  sinkUid = await lab.addResource('pamMachine', 'bench sink', '127.0.0.1', sinkPort);
  echoUid = await lab.addResource('pamMachine', 'bench echo', '127.0.0.1', echoPort);
  return lab;
}

const PROFILE_DIR = opts['cpu-prof'] ? join(ROOT, 'test/bench/results/profiles', `tunnel-${new Date().toISOString().replace(/[:.]/g, '-')}`) : '';

const STOCK_WERIFT_LOADER = pathToFileURL(join(ROOT, 'node/webrtc/testing/stock-werift-loader.mjs')).href;

/**
 * Runs `fn` with werift as shipped (`stock`: the werift-stock loader and
 * POSTERN_ALLOW_STOCK_WERIFT=1) and, with --cpu-prof, a profiling preload, in this process's
 * env: TunnelLab's gateway and CLI children copy process.env when spawned.
 */
async function withChildEnv<T>(stock: boolean, fn: () => Promise<T>): Promise<T> {
  const extra: Record<string, string> = {};
  const imports: string[] = [];
  if (stock) {
    extra['POSTERN_ALLOW_STOCK_WERIFT'] = '1';
    imports.push(STOCK_WERIFT_LOADER);
  }
  if (PROFILE_DIR) {
    // NODE_OPTIONS may not carry --cpu-prof; a preload does the same with the inspector.
    imports.push(pathToFileURL(join(HERE, 'cpu-profile-preload.mjs')).href);
    extra['POSTERN_BENCH_PROFILE_DIR'] = PROFILE_DIR;
  }
  if (imports.length) extra['NODE_OPTIONS'] = [process.env['NODE_OPTIONS'] ?? '', ...imports.map((i) => `--import ${i}`)].join(' ').trim();
  const before = Object.fromEntries(Object.keys(extra).map((k) => [k, process.env[k]]));
  Object.assign(process.env, extra);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function weriftState(pids: number[]): string {
  const rbs = pids.flatMap(udpRcvbufs);
  if (rbs.length === 0) return '?';
  const max = Math.max(...rbs);
  return max >= 1024 * 1024 ? 'tuned' : 'as shipped';
}

async function prepare(setup: SetupName): Promise<Prepared> {
  if (setup === 'raw') return { sinkPort, echoPort, fwdClient: () => [], fwdServer: () => [], path: 'tcp', notes: [], close: async () => {} };
  if (setup === 'ssh') {
    sshd ??= await startSshd();
    const [ls, le] = [await freePort(), await freePort()];
    const ssh = spawn(
      'ssh',
      [
        '-v',
        '-N',
        '-F',
        '/dev/null',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'ExitOnForwardFailure=yes',
        '-i',
        sshd.key,
        '-p',
        String(sshd.port),
        '-L',
        `127.0.0.1:${ls}:127.0.0.1:${sinkPort}`,
        '-L',
        `127.0.0.1:${le}:127.0.0.1:${echoPort}`,
        'root@127.0.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    ssh.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-200_000)));
    let ok = false;
    for (let i = 0; i < 150 && !ok; i++) {
      if (ssh.exitCode !== null) break;
      ok = await probe(le, SIZE);
      if (!ok) await sleep(100);
    }
    if (!ok) {
      ssh.kill('SIGKILL');
      throw new Error(`ssh -L did not come up:\n${err.slice(-3000)}`);
    }
    const cipher = /kex: client->server cipher: (\S+)/.exec(err)?.[1] ?? '?';
    const sshdPid = sshd.proc.pid!;
    return {
      sinkPort: ls,
      echoPort: le,
      fwdClient: () => [ssh.pid!],
      fwdServer: () => [sshdPid],
      path: `ssh ${cipher}`,
      notes: [`${sshd.version}; cipher ${cipher}`],
      async close() {
        ssh.kill('SIGTERM');
        await new Promise((r) => (ssh.exitCode !== null || ssh.signalCode !== null ? r(null) : ssh.once('close', r)));
      },
    };
  }
  const l = await ensureLab();
  const mode = setup === 'unpatched' ? 'off' : 'tuned';
  const stock = mode === 'off';
  return withChildEnv(stock, async () => {
    if (gatewayMode !== mode || !l.gateway || PROFILE_DIR) {
      await l.startGateway();
      gatewayMode = mode;
    }
    const args = setup === 'relay' ? ['--relay-only'] : [];
    const tunnels: RunningTunnel[] = [];
    try {
      tunnels.push(await l.tunnel(sinkUid, args));
      tunnels.push(await l.tunnel(echoUid, args));
    } catch (e) {
      await Promise.all(tunnels.map((t) => t.stop()));
      throw e;
    }
    const [ts, te] = tunnels as [RunningTunnel, RunningTunnel];
    // The CLI prints the path again once SCTP path MTU discovery has settled (e.g. "host→host
    // (16 KiB packets)"); werift as shipped never probes. Wait briefly for that line.
    if (setup !== 'unpatched') {
      for (let i = 0; i < 60 && ![ts, te].every((t) => t.events.some((e) => e.event === 'path')); i++) await new Promise((r) => setTimeout(r, 50));
    }
    const pathOf = (t: RunningTunnel) => String([...t.events].reverse().find((e) => e.event === 'path' || e.event === 'ready')?.['path'] ?? '?');
    const gwPid = l.gateway!.child.pid!;
    const cliPids = [ts.child.pid!, te.child.pid!];
    const werift = `${weriftState(cliPids)}/${weriftState([gwPid])}`;
    return {
      sinkPort: ts.port,
      echoPort: te.port,
      fwdClient: () => cliPids,
      fwdServer: () => [gwPid],
      path: pathOf(ts),
      werift,
      notes: [`paths: sink ${pathOf(ts)}, echo ${pathOf(te)}`, `UDP rcvbuf cli ${cliPids.flatMap(udpRcvbufs).join(',')} gw ${udpRcvbufs(gwPid).join(',')}`],
      async close() {
        const closes = await Promise.all(tunnels.map((t) => t.stop()));
        void closes;
      },
    };
  });
}

// ----------------------------------------------------------------------------- measuring

interface Cpu {
  fwdClient: number;
  fwdServer: number;
  runner: number;
  client: number;
  targets: number;
  /** The whole machine's CPU during the phase, % (100 = one core). */
  machinePct: number;
  /** The machine's CPU not spent by this benchmark's processes (neighbours), %. */
  othersPct: number;
}
function cpuSnapshot(p: Prepared) {
  const u = process.cpuUsage();
  return {
    fwdClient: treeCpu(p.fwdClient()),
    fwdServer: treeCpu(p.fwdServer()),
    runner: (u.user + u.system) / 1e6,
    client: treeCpu([client.proc.pid!]),
    targets: treeCpu([targets.proc.pid!]),
    m: machine(),
  };
}
function cpuDelta(a: ReturnType<typeof cpuSnapshot>, b: ReturnType<typeof cpuSnapshot>): Cpu {
  const d = {
    fwdClient: b.fwdClient - a.fwdClient,
    fwdServer: b.fwdServer - a.fwdServer,
    runner: b.runner - a.runner,
    client: b.client - a.client,
    targets: b.targets - a.targets,
  };
  const wallS = (b.m.total - a.m.total) / TICK / cpus().length;
  const busyS = (b.m.busy - a.m.busy) / TICK;
  const ours = d.fwdClient + d.fwdServer + d.runner + d.client + d.targets;
  return { ...d, machinePct: (100 * busyS) / Math.max(wallS, 1e-9), othersPct: Math.max(0, (100 * (busyS - ours)) / Math.max(wallS, 1e-9)) };
}

function pct(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    n: s.length,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : null,
    p50: pct(s, 50),
    p90: pct(s, 90),
    p99: pct(s, 99),
    max: s.length ? s[s.length - 1]! : null,
  };
}

interface SetupResult {
  setup: SetupName;
  path?: string;
  werift?: string;
  notes: string[];
  error?: string;
  rr?: {
    parallel: number;
    rounds: number;
    size: number;
    failed: number;
    errors: string[];
    timeout: boolean;
    wallMs: number;
    perSecond: number;
    rtt: ReturnType<typeof summary>;
    setup: ReturnType<typeof summary>;
    cpu: Cpu;
  };
  bulk?: {
    bytes: number;
    ok: boolean;
    verified: boolean;
    timeout: boolean;
    error?: string;
    ms: number;
    connectMs: number;
    sinkBytes: number;
    maxPauseMs: number;
    MBps: number;
    MiBps: number;
    mbPerCpuSecond: number | null;
    cpu: Cpu;
    reply: string;
  };
}

async function measure(setup: SetupName): Promise<SetupResult> {
  const result: SetupResult = { setup, notes: [] };
  let p: Prepared;
  try {
    p = await prepare(setup);
  } catch (e) {
    result.error = `setup failed: ${(e as Error).message.split('\n').slice(0, 6).join(' | ')}`;
    return result;
  }
  result.path = p.path;
  if (p.werift) result.werift = p.werift;
  result.notes.push(...p.notes);
  try {
    // Warm-up, not recorded: JIT, the forwarders' buffers, SCTP's congestion window.
    const warmMs = Math.min(MAX_MS, 30_000);
    await client.ask<RrResult>({ type: 'rr', port: p.echoPort, parallel: Math.min(PARALLEL, 10), rounds: 10, size: SIZE, maxMs: warmMs });
    if (WARMUP_MIB > 0) {
      const w = await client.ask<BulkResult>({ type: 'bulk', port: p.sinkPort, bytes: Math.round(WARMUP_MIB * 1024 * 1024), maxMs: warmMs });
      if (!w.ok) result.notes.push(`warm-up transfer: ${w.timeout ? 'time limit' : (w.error ?? `reply "${w.reply}"`)}`);
    }

    process.stdout.write(`  ${setup}: ${PARALLEL} connections × ${ROUNDS} round trips … `);
    let before = cpuSnapshot(p);
    const rr = await client.ask<RrResult>({ type: 'rr', port: p.echoPort, parallel: PARALLEL, rounds: ROUNDS, size: SIZE, maxMs: MAX_MS });
    const rrCpu = cpuDelta(before, cpuSnapshot(p));
    result.rr = {
      parallel: PARALLEL,
      rounds: ROUNDS,
      size: SIZE,
      failed: rr.failed,
      errors: rr.errors,
      timeout: rr.timeout,
      wallMs: rr.wallMs,
      perSecond: rr.rttMs.length / (rr.wallMs / 1000),
      rtt: summary(rr.rttMs),
      setup: summary(rr.setupMs),
      cpu: rrCpu,
    };
    process.stdout.write(`p50 ${fmt(result.rr.rtt.p50, 2)} ms; ${MIB} MiB … `);

    const bytes = Math.round(MIB * 1024 * 1024);
    before = cpuSnapshot(p);
    const relayBefore = setup === 'relay' && lab ? { ...lab.relay.server.metrics } : undefined;
    const b = await client.ask<BulkResult>({ type: 'bulk', port: p.sinkPort, bytes, maxMs: MAX_MS });
    const bulkCpu = cpuDelta(before, cpuSnapshot(p));
    if (relayBefore && lab) {
      // What the Relay carried during the bulk phase: datagram counts and sizes show the SCTP
      // packet size in use (16 KiB packets ≈ 16.4 KB datagrams) and how many SACKs came back.
      const m = lab.relay.server.metrics;
      const up = m.packetsClientToPeer - relayBefore.packetsClientToPeer;
      const down = m.packetsPeerToClient - relayBefore.packetsPeerToClient;
      const avg = (bytesNow: number, bytesThen: number, n: number) => (n ? Math.round((bytesNow - bytesThen) / n) : 0);
      result.notes.push(
        `relay during bulk: CLI→gateway ${up} datagrams (avg ${avg(m.bytesClientToPeer, relayBefore.bytesClientToPeer, up)} B), gateway→CLI ${down} (avg ${avg(m.bytesPeerToClient, relayBefore.bytesPeerToClient, down)} B), hairpinned ${m.packetsHairpinned - relayBefore.packetsHairpinned}`,
      );
    }
    const progress = await targets.ask<SinkProgress>({ type: 'progress' });
    const moved = b.ok ? bytes : progress.bytes;
    const busier = Math.max(bulkCpu.fwdClient, bulkCpu.fwdServer);
    result.bulk = {
      bytes,
      ok: b.ok,
      verified: b.verified,
      timeout: b.timeout,
      ...(b.error ? { error: b.error } : {}),
      ms: b.ms,
      connectMs: b.connectMs,
      sinkBytes: progress.bytes,
      maxPauseMs: progress.maxGapMs,
      MBps: moved / 1e6 / (b.ms / 1000),
      MiBps: moved / 1048576 / (b.ms / 1000),
      mbPerCpuSecond: busier > 0.05 ? moved / 1e6 / busier : null,
      cpu: bulkCpu,
      reply: b.reply,
    };
    console.log(
      b.ok ? `${fmt(result.bulk.MBps, 1)} MB/s` : b.timeout ? `time limit after ${fmt(progress.bytes / 1048576, 1)} MiB` : `failed (${b.error ?? b.reply})`,
    );
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    await p.close().catch(() => {});
  }
  return result;
}

// ------------------------------------------------------------------------------------ table

function fmt(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}
function printTable(rows: SetupResult[]): string {
  const head = [
    'setup',
    'path',
    'werift c/g',
    'bulk MB/s',
    'MiB/s',
    's',
    'ok',
    'pause s',
    'MB/CPU-s',
    'rr p50 ms',
    'rr p99 ms',
    'conn p50 ms',
    'conn p99 ms',
    'rr/s',
    'failed',
    'bulk CPU s fwd-c/fwd-s/run',
    'mach/others% bulk',
    'rr CPU s fwd-c/fwd-s/run',
    'mach/others% rr',
  ];
  const load = (c?: Cpu) => (c ? `${fmt(c.machinePct, 0)}/${fmt(c.othersPct, 0)}` : '-');
  const cpu3 = (c?: Cpu) => (c ? `${fmt(c.fwdClient, 2)}/${fmt(c.fwdServer, 2)}/${fmt(c.runner, 2)}` : '-');
  const body = rows.map((r) => {
    const b = r.bulk;
    const rr = r.rr;
    const okText = !b ? '-' : b.ok ? 'yes' : b.timeout ? `timeout after ${fmt(b.sinkBytes / 1048576, 1)} MiB` : `NO (${b.error ?? b.reply.slice(0, 20)})`;
    return [
      r.setup,
      r.path ?? (r.error ? `ERROR: ${r.error.slice(0, 60)}` : '-'),
      r.werift ?? '-',
      fmt(b?.MBps, 1),
      fmt(b?.MiBps, 1),
      fmt(b ? b.ms / 1000 : null, 2),
      okText,
      fmt(b ? b.maxPauseMs / 1000 : null, 2),
      fmt(b?.mbPerCpuSecond, 0),
      fmt(rr?.rtt.p50, 2),
      fmt(rr?.rtt.p99, 2),
      fmt(rr?.setup.p50, 1),
      fmt(rr?.setup.p99, 1),
      fmt(rr?.perSecond, 0),
      rr ? `${rr.failed}${rr.timeout ? ' (time limit)' : ''}` : '-',
      cpu3(b?.cpu),
      load(b?.cpu),
      cpu3(rr?.cpu),
      load(rr?.cpu),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 3 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const text = [
    line(head),
    `|${widths.map((w, i) => (i < 3 || i === 6 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
  console.log(text);
  return text;
}

// ------------------------------------------------------------------------------------- main

const started = new Date();
console.log(
  `tunnel bench: ${MIB} MiB bulk, ${PARALLEL} × ${ROUNDS} round trips of ${SIZE} B, limit ${MAX_MS / 1000} s, setups ${SETUPS.join(',')}; ` +
    `${cpus().length} CPUs, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
const t = await startChild('targets');
targets = t.child;
sinkPort = Number(t.ready['sinkPort']);
echoPort = Number(t.ready['echoPort']);
client = (await startChild('client')).child;
await client.ask({ type: 'prepare', bytes: Math.round(MIB * 1024 * 1024) });

const results: SetupResult[] = [];
let cleanedUp = false;
const cleanup = async () => {
  if (cleanedUp) return;
  cleanedUp = true;
  await lab?.close().catch(() => {});
  if (sshd) {
    sshd.proc.kill('SIGTERM');
    rmSync(sshd.dir, { recursive: true, force: true });
  }
  targets.proc.disconnect();
  client.proc.disconnect();
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
try {
  for (const setup of SETUPS) results.push(await measure(setup));
} finally {
  await cleanup();
}

console.log('');
const table = printTable(results);
for (const r of results) {
  const extra = [...r.notes, ...(r.error ? [`error: ${r.error}`] : []), ...(r.rr?.errors.length ? [`rr errors: ${r.rr.errors.slice(0, 3).join('; ')}`] : [])];
  if (extra.length) console.log(`  ${r.setup}: ${extra.join('; ')}`);
}
const dir = join(ROOT, 'test/bench/results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `tunnel-${started.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      bench: 'tunnel',
      startedAt: started.toISOString(),
      options: { mib: MIB, setups: SETUPS, parallel: PARALLEL, rounds: ROUNDS, size: SIZE, maxSeconds: MAX_MS / 1000, warmupMib: WARMUP_MIB, hash: HASH },
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtEnd: loadavg(), node: process.version },
      results,
      table,
    },
    null,
    2,
  )}\n`,
);
console.log(`\nresults: ${file}`);
if (PROFILE_DIR) console.log(`CPU profiles of the gateway and CLI processes: ${PROFILE_DIR}`);
process.exit(0);
