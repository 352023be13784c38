/**
 * Benchmark: vault and device API requests per Router core. A Postern Router (Node adapter,
 * SQLite, production defaults) in its own process serves N concurrent SDK clients in a closed
 * loop; the reference is a bare Hono JSON route served by @hono/node-server in the same kind of
 * process. Prints a table (requests/s, p50/p99, Router CPU per request, which process used how
 * much CPU), then a crypto micro-table (core/crypto's @noble against WebCrypto), and writes
 * everything to test/bench/results/vault-api-<date>.json. It measures; it asserts nothing.
 *
 *   npx tsx test/bench/vault-api/run.ts [--setups vault,device,hono] [--clients 32,256]
 *        [--seconds 10] [--warmup 2] [--clients-procs 2] [--records 5] [--timeout 30000]
 *        [--quiet-wait 180] [--quiet-threshold 40] [--crypto-ms 1000] [--cpu-profile]
 *        [--rate 0[,1000]]
 *
 * For each setup and client count, in fresh processes:
 *   1. the server starts (server.ts): a Router on SQLite in a temp dir, or the bare Hono app
 *   2. Postern setups: the runner makes the fixture through the SDK (fixture.ts: first account,
 *      a shared folder with --records login records, an application, one redeemed device)
 *   3. --clients-procs load processes (load.ts) make their share of the N clients and send
 *      one request each (connections, JIT)
 *   4. after waiting for a quiet machine, all clients run in a closed loop for --warmup, then
 *      --seconds measured; CPU of the server, of each load process and of the whole machine is
 *      read from /proc at the window's edges
 *   With --rate R the clients are paced (R requests/s offered in all, latency from each request's
 *   scheduled start) instead of a closed loop (0): latency under a given load rather than at
 *   saturation. A list runs each rate in turn.
 *
 *   vault:  VaultClient.getRecord(uid)            (one sealed `record.get`, answer opened)
 *   device: SecretsClient.getSecrets([uid])       (one sealed, signed `get_secret`)
 *   hono:   POST of a small JSON body, JSON answer
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnTsChild, sleep, type ChildPeer } from '../gateways/ipc.ts';
import { summarize, type Summary } from '../gateways/load.ts';
import { cryptoTable, measureCrypto, type CryptoRow } from './crypto.ts';
import { provisionFixture } from './fixture.ts';
import type { LoadResult, LoadSetup, PrepareArgs, RunArgs } from './load.ts';
import { intOption } from '../options.ts';
import { guardRun } from '../run-guard.ts';
import { cpuBetween, snapshot, waitForQuiet } from '../proc-stat.ts';
import { markdownTable } from './table.ts';

const HERE = import.meta.dirname;
const ROOT = join(HERE, '..', '..', '..');
const RESULTS = join(HERE, '..', 'results');

const SETUP_LABEL: Record<LoadSetup, string> = {
  vault: 'Vault API: getRecord',
  device: 'Device API: getSecrets',
  hono: 'bare Hono JSON route',
};

// The issue's targets (issue 18).
const TARGET_PER_CORE = 2_000;
const TARGET_CPU_MS = 0.5;
const TARGET_P99_MS = 50;
const TARGET_P99_CLIENTS = 256;

// ---------------------------------------------------------------- options

const { values: opts } = parseArgs({
  options: {
    setups: { type: 'string', default: 'vault,device,hono' },
    clients: { type: 'string', default: '32,256' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'clients-procs': { type: 'string', default: '2' },
    records: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '30000' },
    'quiet-wait': { type: 'string', default: '180' },
    'quiet-threshold': { type: 'string', default: '40' },
    'crypto-ms': { type: 'string', default: '1000' },
    'cpu-profile': { type: 'boolean', default: false },
    rate: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(import.meta.filename, 'utf8').split('*/')[0]);
  process.exit(0);
}

const setups = opts.setups.split(',').map((s) => s.trim()) as LoadSetup[];
for (const s of setups) if (!(s in SETUP_LABEL)) throw new Error(`unknown setup "${s}" (${Object.keys(SETUP_LABEL).join(', ')})`);
const clientCounts = opts.clients.split(',').map((c) => intOption('clients', c.trim(), 1, 4_096));
const seconds = intOption('seconds', opts.seconds, 1, 600);
const warmup = intOption('warmup', opts.warmup, 0, 120);
const clientsProcs = intOption('clients-procs', opts['clients-procs'], 1, 32);
const records = intOption('records', opts.records, 1, 100);
const timeoutMs = intOption('timeout', opts.timeout, 1_000, 300_000);
const quietWaitS = intOption('quiet-wait', opts['quiet-wait'], 0, 3_600);
const quietThreshold = intOption('quiet-threshold', opts['quiet-threshold'], 1, 100 * cpus().length);
const cryptoMs = intOption('crypto-ms', opts['crypto-ms'], 0, 60_000);
const rates = opts.rate.split(',').map((r) => intOption('rate', r.trim(), 0, 1_000_000));
const stamp = new Date()
  .toISOString()
  .replace(/:/g, '-')
  .replace(/\.\d+Z$/, 'Z');

// ---------------------------------------------------------------- one run

interface RunResult {
  setup: LoadSetup;
  clients: number;
  /** Offered requests/s when paced; 0 for the closed loop. */
  offeredRate: number;
  loadProcesses: number;
  /** OK requests completed inside the measured window, per second. */
  requestsPerSecond: number;
  completed: number;
  latencyMs: Summary;
  errors: number;
  errorCodes: Record<string, number>;
  inFlightAtEnd: number;
  windowMs: number;
  routerCpuMs: number;
  routerCpuPercent: number;
  routerCpuMsPerRequest: number;
  /** Requests one Router core would serve at this CPU cost: completed / Router CPU-seconds. */
  requestsPerRouterCore: number;
  loadCpuPercent: number[];
  loadCpuMsPerRequest: number;
  /** What each load process got through: a process starved of CPU or of answers shows here. */
  perProcess: { clients: number; completed: number; inFlightAtEnd: number; p50: number; p99: number }[];
  machineCpuPercent: number;
  othersCpuPercent: number;
  limitedBy: string;
  quiet: { waitedMs: number; othersPercent: number } | null;
  loadAverage: number[];
  setupMs: number;
  cpuProfile?: string;
  /** The Router's event-loop delay over the measured window (its monitor's 1 ms resolution). */
  routerLoopDelay?: { p99Ms: number; maxMs: number } | null;
  error?: string;
}

const live = new Set<ChildPeer>();
let scratch = '';

function track(peer: ChildPeer): ChildPeer {
  live.add(peer);
  return peer;
}

/** Which process the throughput ran into, from the CPU each used (100 = one core). */
function limitOf(r: Pick<RunResult, 'routerCpuPercent' | 'loadCpuPercent' | 'machineCpuPercent'>): string {
  const cores = cpus().length;
  const machineFull = r.machineCpuPercent >= cores * 100 * 0.9;
  if (r.routerCpuPercent >= 90) return machineFull ? 'Router CPU (machine full)' : 'Router CPU';
  if (machineFull) return `machine CPU (all ${cores} cores)`;
  if (r.loadCpuPercent.some((p) => p >= 90)) return 'load process CPU';
  return 'none (waiting)';
}

async function runOne(setup: LoadSetup, clients: number, rate: number): Promise<RunResult> {
  const began = Date.now();
  const tag = `${SETUP_LABEL[setup]} × ${clients}${rate > 0 ? ` at ${rate}/s` : ''}`;
  const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${tag}: ${msg}`);
  const dataDir = join(scratch, `${setup}-${clients}-${rate}`);
  mkdirSync(dataDir, { recursive: true });
  const procs = Math.min(clientsProcs, clients);
  const result: Partial<RunResult> = { setup, clients, offeredRate: rate, loadProcesses: procs };
  const server = track(
    spawnTsChild(
      setup === 'hono' ? 'hono' : 'router',
      join(HERE, 'server.ts'),
      ['--setup', setup === 'hono' ? 'hono' : 'postern', '--data-dir', dataDir],
      [],
      ROOT,
    ),
  );
  const loaders: ChildPeer[] = [];
  try {
    const { url } = await server.waitEvent<{ url: string }>('listening', 60_000);
    let fixtureFile: string | undefined;
    if (setup !== 'hono') {
      log('making the fixture through the SDK (account, folder, records, application, device)');
      const fixture = await provisionFixture(url, records);
      fixtureFile = join(dataDir, 'fixture.json');
      writeFileSync(fixtureFile, JSON.stringify(fixture), { mode: 0o600 });
    }
    for (let i = 0; i < procs; i++) loaders.push(track(spawnTsChild(`load-${i + 1}`, join(HERE, 'load.ts'), [], [], ROOT)));
    const shares = loaders.map((_, i) => Math.floor(clients / procs) + (i < clients % procs ? 1 : 0));
    log(`${procs} load process${procs > 1 ? 'es' : ''} making ${shares.join(' + ')} clients`);
    await Promise.all(
      loaders.map((l, i) =>
        l.call(
          'prepare',
          { setup, clients: shares[i]!, timeoutMs, ...(fixtureFile ? { fixtureFile } : { url }) } satisfies PrepareArgs,
          120_000 + shares[i]! * 1_000,
        ),
      ),
    );
    result.setupMs = Date.now() - began;
    const pids = [server.pid, ...loaders.map((l) => l.pid)];
    result.quiet = quietWaitS > 0 ? await waitForQuiet(pids, quietWaitS, quietThreshold, log) : null;
    if (opts['cpu-profile']) {
      mkdirSync(join(RESULTS, 'profiles'), { recursive: true });
      result.cpuProfile = join(RESULTS, 'profiles', `vault-api-${setup}-${clients}${rate > 0 ? `-${rate}` : ''}-${stamp}.cpuprofile`);
      await server.call('profileStart', {}, 10_000);
    }

    log(`${rate > 0 ? `paced at ${rate} requests/s` : 'closed loop'}: ${warmup} s warm-up + ${seconds} s measured`);
    const startAt = Date.now() + 300;
    const running = loaders.map((l, i) =>
      l.call<LoadResult>(
        'run',
        { startAt, warmupMs: warmup * 1000, measureMs: seconds * 1000, rate: (rate * shares[i]!) / clients } satisfies RunArgs,
        (warmup + seconds) * 1000 + timeoutMs + 60_000,
      ),
    );
    // The window's edges, read from outside the measured processes.
    await sleep(startAt + warmup * 1000 - Date.now());
    const s0 = snapshot(pids);
    await server.call('loopDelayStart', {}, 10_000);
    await sleep(startAt + (warmup + seconds) * 1000 - Date.now());
    const s1 = snapshot(pids);
    result.routerLoopDelay = await server.call<{ p99Ms: number; maxMs: number } | null>('loopDelayStop', {}, 10_000);
    const loads = await Promise.all(running);
    if (result.cpuProfile) await server.call('profileStop', { path: result.cpuProfile }, 60_000);

    const cpu = cpuBetween(s0, s1);
    const completed = loads.reduce((a, l) => a + l.completed, 0);
    const errorCodes: Record<string, number> = {};
    for (const l of loads) for (const [code, n] of Object.entries(l.errors)) errorCodes[code] = (errorCodes[code] ?? 0) + n;
    const routerCpuMs = cpu.processMs[0]!;
    const loadMs = cpu.processMs.slice(1);
    Object.assign(result, {
      completed,
      requestsPerSecond: completed / seconds,
      latencyMs: summarize(Float64Array.from(loads.flatMap((l) => l.latencies))),
      errors: Object.values(errorCodes).reduce((a, b) => a + b, 0),
      errorCodes,
      inFlightAtEnd: loads.reduce((a, l) => a + l.inFlightAtEnd, 0),
      windowMs: cpu.wallMs,
      routerCpuMs,
      routerCpuPercent: (routerCpuMs / cpu.wallMs) * 100,
      routerCpuMsPerRequest: routerCpuMs / completed,
      requestsPerRouterCore: completed / (routerCpuMs / 1000),
      loadCpuPercent: loadMs.map((m) => (m / cpu.wallMs) * 100),
      loadCpuMsPerRequest: loadMs.reduce((a, b) => a + b, 0) / completed,
      perProcess: loads.map((l) => {
        const own = summarize(Float64Array.from(l.latencies));
        return { clients: l.clients, completed: l.completed, inFlightAtEnd: l.inFlightAtEnd, p50: own.p50, p99: own.p99 };
      }),
      machineCpuPercent: cpu.machinePercent,
      othersCpuPercent: cpu.othersPercent,
      loadAverage: loadavg(),
    } satisfies Partial<RunResult>);
    result.limitedBy = limitOf(result as RunResult);
    const r = result as RunResult;
    log(
      `${int(r.requestsPerSecond)} requests/s, p50 ${ms(r.latencyMs.p50)} ms, p99 ${ms(r.latencyMs.p99)} ms, Router ${ms(r.routerCpuMsPerRequest, 3)} CPU ms/request (${r.routerCpuPercent.toFixed(0)} %), load ${r.loadCpuPercent.map((p) => p.toFixed(0)).join(' + ')} % (completed ${r.perProcess.map((p) => p.completed).join(' + ')}), machine ${r.machineCpuPercent.toFixed(0)} %, ${r.errors} errors`,
    );
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`failed: ${result.error}`);
  } finally {
    for (const l of loaders) {
      await l.stop(10_000);
      live.delete(l);
    }
    await server.stop(30_000);
    live.delete(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return {
    requestsPerSecond: NaN,
    completed: 0,
    latencyMs: summarize(new Float64Array(0)),
    errors: 0,
    errorCodes: {},
    inFlightAtEnd: 0,
    windowMs: 0,
    routerCpuMs: NaN,
    routerCpuPercent: NaN,
    routerCpuMsPerRequest: NaN,
    requestsPerRouterCore: NaN,
    loadCpuPercent: [],
    loadCpuMsPerRequest: NaN,
    perProcess: [],
    machineCpuPercent: NaN,
    othersCpuPercent: NaN,
    limitedBy: '—',
    quiet: null,
    loadAverage: loadavg(),
    setupMs: Date.now() - began,
    ...result,
  } as RunResult;
}

// ---------------------------------------------------------------- report

const ms = (v: number | undefined, digits = 1) => (v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '—');
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
const pct = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '—');

function mainTable(runs: RunResult[]): string {
  return markdownTable(
    [
      'setup',
      'clients',
      'load',
      'requests/s',
      'p50 (ms)',
      'p99 (ms)',
      'errors',
      'Router CPU ms/request',
      'requests/s per Router core',
      'Router CPU (%)',
      'load CPU (% per process)',
      'load CPU ms/request',
      'machine CPU (%)',
      'Router loop delay p99 / max (ms)',
      'limited by',
    ],
    runs.map((r) => [
      SETUP_LABEL[r.setup],
      String(r.clients),
      r.offeredRate > 0 ? `paced ${int(r.offeredRate)}/s` : 'closed loop',
      int(r.requestsPerSecond),
      ms(r.latencyMs.p50),
      ms(r.latencyMs.p99),
      r.error ? 'run failed' : String(r.errors),
      ms(r.routerCpuMsPerRequest, 3),
      int(r.requestsPerRouterCore),
      pct(r.routerCpuPercent),
      r.loadCpuPercent.length ? r.loadCpuPercent.map(pct).join(' + ') : '—',
      ms(r.loadCpuMsPerRequest, 3),
      `${pct(r.machineCpuPercent)} of ${cpus().length * 100}`,
      r.routerLoopDelay ? `${ms(r.routerLoopDelay.p99Ms)} / ${ms(r.routerLoopDelay.maxMs)}` : '—',
      r.limitedBy,
    ]),
  );
}

function verdicts(runs: RunResult[]): string[] {
  const lines = [
    `Targets (issue 18): ≥ ${TARGET_PER_CORE.toLocaleString('en-US')} requests/s per Router core and ≤ ${TARGET_CPU_MS} ms Router CPU per request; p99 < ${TARGET_P99_MS} ms at ${TARGET_P99_CLIENTS} clients.`,
  ];
  for (const r of runs.filter((x) => x.setup !== 'hono' && !x.error)) {
    const ref = runs.find((x) => x.setup === 'hono' && x.clients === r.clients && x.offeredRate === r.offeredRate && !x.error);
    const cpu = `${ms(r.routerCpuMsPerRequest, 3)} ms Router CPU/request (${int(r.requestsPerRouterCore)}/s per core) ${r.routerCpuMsPerRequest <= TARGET_CPU_MS ? 'meets' : 'misses'} the target`;
    // In a closed loop every client waits for its answer, so latency is clients ÷ throughput
    // (Little's law) whatever the server does: the p99 target is judged on paced runs.
    const littles =
      r.offeredRate === 0
        ? ` (closed loop: ${r.clients} clients ÷ ${int(r.requestsPerSecond)}/s ≈ ${ms((r.clients / r.requestsPerSecond) * 1000)} ms of queueing by construction; see the paced runs)`
        : '';
    const p99 =
      r.clients >= TARGET_P99_CLIENTS
        ? `; p99 ${ms(r.latencyMs.p99)} ms ${r.latencyMs.p99 < TARGET_P99_MS ? 'meets' : 'misses'} the ${TARGET_P99_MS} ms target${littles}`
        : '';
    const over = ref
      ? `; the bare Hono route costs ${ms(ref.routerCpuMsPerRequest, 3)} ms, so ${ms(r.routerCpuMsPerRequest - ref.routerCpuMsPerRequest, 3)} ms is Postern's`
      : '';
    const ceiling = (cpus().length * 1000) / (r.routerCpuMsPerRequest + r.loadCpuMsPerRequest);
    const clientsNote = `; the clients spend ${ms(r.loadCpuMsPerRequest, 3)} ms CPU per request, so these ${cpus().length} cores top out near ${int(ceiling)} requests/s with Router and clients on them`;
    lines.push(`${SETUP_LABEL[r.setup]} × ${r.clients}${r.offeredRate > 0 ? ` paced at ${int(r.offeredRate)}/s` : ''}: ${cpu}${p99}${over}${clientsNote}.`);
  }
  lines.push(
    `Columns: CPU from /proc over the measured window, all threads; 100 % = one core, the machine has ${cpus().length}. "load CPU" is each load-generator process (the clients' own sealing, signing and opening); when "machine CPU" is near ${cpus().length * 100} the Router and the clients share the cores, and requests/s is what the machine as a whole does: "requests/s per Router core" (completed ÷ Router CPU-seconds) is the number to compare with the target.`,
  );
  const noisy = runs.filter((r) => r.othersCpuPercent > quietThreshold);
  if (noisy.length)
    lines.push(
      `Other processes used more than ${quietThreshold} % CPU during: ${noisy.map((r) => `${SETUP_LABEL[r.setup]} × ${r.clients} (${pct(r.othersCpuPercent)} %)`).join(', ')}; rerun for cleaner numbers.`,
    );
  return lines;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const began = Date.now();
  const budgetMs =
    setups.length * clientCounts.length * rates.length * (240_000 + quietWaitS * 1000 + (warmup + seconds) * 1000 + timeoutMs) + 120_000 + cryptoMs * 20;
  guardRun(budgetMs, live, () => scratch);

  console.log(
    `Postern vault API benchmark: setups ${setups.join(', ')}; clients ${clientCounts.join(', ')} in ${clientsProcs} load process(es); ${warmup} s warm-up + ${seconds} s; ${records} records; Node ${process.version}, ${cpus().length} CPUs`,
  );
  scratch = mkdtempSync(join(tmpdir(), 'postern-bench-vault-api-'));
  const runs: RunResult[] = [];
  let crypto: CryptoRow[] = [];
  try {
    for (const setup of setups) for (const clients of clientCounts) for (const rate of rates) runs.push(await runOne(setup, clients, rate));
    if (cryptoMs > 0) {
      const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
      if (quietWaitS > 0) await waitForQuiet([process.pid], quietWaitS, quietThreshold, log);
      crypto = await measureCrypto(cryptoMs, log);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const totalMs = Date.now() - began;
  const main = mainTable(runs);
  const notes = verdicts(runs);
  const cryptoText = crypto.length
    ? `\n\nCrypto in one process, one operation at a time (${cryptoMs} ms per cell; CPU = the whole process, all threads):\n\n${cryptoTable(crypto)}`
    : '';
  console.log(
    `\n${main}\n\n${notes.join('\n')}${cryptoText}\n\nNode ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}. Total run time ${(totalMs / 1000).toFixed(0)} s.`,
  );
  for (const r of runs.filter((x) => x.error)) console.log(`${SETUP_LABEL[r.setup]} × ${r.clients} failed: ${r.error}`);
  for (const r of runs.filter((x) => x.errors > 0)) console.log(`${SETUP_LABEL[r.setup]} × ${r.clients} errors: ${JSON.stringify(r.errorCodes)}`);

  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout
  }
  mkdirSync(RESULTS, { recursive: true });
  const out = join(RESULTS, `vault-api-${stamp}.json`);
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'vault-api',
        date: new Date(began).toISOString(),
        command: `npx tsx test/bench/vault-api/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
        options: { setups, clientCounts, seconds, warmup, clientsProcs, records, timeoutMs, quietWaitS, quietThreshold, cryptoMs },
        environment: {
          node: process.version,
          platform: `${process.platform} ${process.arch}`,
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? 'unknown',
          totalMemoryBytes: totalmem(),
          commit,
        },
        targets: { requestsPerRouterCore: TARGET_PER_CORE, routerCpuMsPerRequest: TARGET_CPU_MS, p99Ms: TARGET_P99_MS, p99AtClients: TARGET_P99_CLIENTS },
        totalMs,
        table: main,
        notes,
        cryptoTable: crypto.length ? cryptoTable(crypto) : null,
        runs,
        crypto,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`Results: ${out}`);
}

await main();
