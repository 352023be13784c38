/**
 * Benchmark: the Postern relay against coturn, driven by coturn's own load client
 * (turnutils_uclient) with the same arguments, in one run. It measures; it asserts nothing.
 *
 *   npx tsx test/bench/relay/run.ts [--scenarios udp-100B,udp-1KB,udp-8KB,udp-burst,tcp-1KB] [--repeat 1]
 *
 * Needs turnserver and turnutils_uclient (Debian package coturn: scripts/services/coturn-tools.sh
 * installs it). Both servers run on 127.0.0.1 only, in their own processes, with the same
 * shared secret (TURN REST credentials, coturn's --use-auth-secret), the same realm, and
 * loopback peers allowed (coturn --allow-loopback-peers, Postern allow-list 127.0.0.1/32),
 * since uclient's -y mode relays between two clients through their 127.0.0.1 relayed addresses.
 * Postern's per-user allocation quota is raised to 1000 (coturn has none by default).
 *
 * uclient always gets: -s (Send/Data indications: in channel mode uclient binds numbers from the
 * old RFC 5766 range, e.g. 0x542A, which RFC 8656 forbids and Postern answers 400), -c (no RTCP
 * allocation pairs), -y (client to client), credentials -u/-w; then each scenario's -l (message
 * bytes), -n (messages per client), -m (clients), -z (ms between a client's messages; 0 = no
 * pause) and maybe -t (TCP to the server). Columns: messages sent and received, loss as uclient
 * reports it, its average round trip and jitter, received payload per second of uclient's wall
 * time (setup included), and the server process's CPU seconds (user+system) during the run.
 * Before the measured runs each server gets the same short unrecorded warm-up load.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { METHOD } from '../../../relay/stun/constants.ts';
import { issueTurnCredentials } from '../../../relay/stun/credentials.ts';
import { buildStunMessage, isStunMessage, newTransactionId } from '../../../relay/stun/message.ts';

interface Scenario {
  name: string;
  args: string[];
}

const SCENARIOS: Scenario[] = [
  { name: 'udp-100B', args: ['-l', '100', '-n', '1000', '-m', '10', '-z', '5'] },
  { name: 'udp-1KB', args: ['-l', '1000', '-n', '1000', '-m', '10', '-z', '2'] },
  { name: 'udp-8KB', args: ['-l', '8000', '-n', '1000', '-m', '4', '-z', '1'] },
  { name: 'udp-burst', args: ['-l', '1000', '-n', '2000', '-m', '4', '-z', '0'] },
  { name: 'tcp-1KB', args: ['-t', '-l', '1000', '-n', '1000', '-m', '10', '-z', '2'] },
];
const COMMON = ['-s', '-c', '-y'];

const { values: opts } = parseArgs({
  options: {
    scenarios: { type: 'string', default: SCENARIOS.map((s) => s.name).join(',') },
    repeat: { type: 'string', default: '1' },
  },
});
const chosen = opts.scenarios.split(',').map((n) => {
  const s = SCENARIOS.find((x) => x.name === n.trim());
  if (!s) throw new Error(`unknown scenario ${n}; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
  return s;
});
const repeat = Number(opts.repeat);

const which = (cmd: string): string =>
  spawnSync('sh', ['-c', `command -v ${cmd}`])
    .stdout?.toString()
    .trim() ?? '';
const UCLIENT = which('turnutils_uclient');
const TURNSERVER = which('turnserver');
if (!UCLIENT || !TURNSERVER) {
  console.error('turnserver and turnutils_uclient are needed (Debian package coturn): run scripts/services/coturn-tools.sh as root.');
  process.exit(1);
}

const SECRET = randomBytes(32).toString('base64');
const REALM = 'bench';
const ROOT = join(import.meta.dirname, '..', '..', '..');

async function freePort(): Promise<number> {
  // Free for TCP and UDP at once, so one number serves both of coturn's listeners.
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const ok = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

/** Waits until a STUN Binding on UDP gets an answer. */
async function waitForStun(port: number): Promise<void> {
  const s = createSocket('udp4');
  try {
    for (let i = 0; i < 100; i++) {
      const answered = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 100);
        s.once('message', (m) => {
          clearTimeout(t);
          resolve(isStunMessage(new Uint8Array(m)));
        });
        s.send(buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: newTransactionId(), attributes: [] }), port, '127.0.0.1');
      });
      if (answered) return;
    }
    throw new Error(`no STUN answer on 127.0.0.1:${port}`);
  } finally {
    s.close();
  }
}

/** User + system CPU seconds of a process so far (Linux /proc). */
/** The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets). */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  const i = names?.indexOf('RcvbufErrors') ?? -1;
  return i > 0 ? Number(values?.[i]) : Number.NaN;
}

/** Per-socket drop counters (/proc/net/udp{,6}, last column) of the sockets `pid` holds. */
function socketDrops(pid: number): Map<string, number> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    return new Map();
  }
  const drops = new Map<string, number>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 10 && inodes.has(f[9]!)) drops.set(f[9]!, Number(f[f.length - 1]));
    }
  }
  return drops;
}

/**
 * Watches the server's UDP sockets during a run (relayed sockets come and go with allocations,
 * so they are sampled every 20 ms) and returns the datagrams they dropped: loss inside the
 * server, as opposed to loss at uclient's own sockets.
 */
function watchServerDrops(pid: number): () => number {
  const first = socketDrops(pid);
  const last = new Map(first);
  const sample = () => {
    for (const [inode, d] of socketDrops(pid)) last.set(inode, d);
  };
  const timer = setInterval(sample, 20);
  return () => {
    clearInterval(timer);
    sample();
    let total = 0;
    for (const [inode, d] of last) total += d - (first.get(inode) ?? 0);
    return total;
  };
}

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

interface Server {
  name: string;
  udp: number;
  tcp: number;
  pid: number;
  stop(): Promise<void>;
}

async function startCoturn(dir: string): Promise<Server> {
  const port = await freePort();
  const conf = join(dir, 'turnserver.conf');
  // The secret goes in a 0600 file, not on the command line.
  writeFileSync(
    conf,
    [
      'listening-ip=127.0.0.1',
      'relay-ip=127.0.0.1',
      `listening-port=${port}`,
      'use-auth-secret',
      `static-auth-secret=${SECRET}`,
      `realm=${REALM}`,
      'allow-loopback-peers',
      'no-tls',
      'no-dtls',
      'no-cli',
      'no-multicast-peers',
      `pidfile=${join(dir, 'turnserver.pid')}`,
      `userdb=${join(dir, 'turndb')}`,
      `log-file=${join(dir, 'turnserver.log')}`,
      'simple-log',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const child = spawn(TURNSERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForStun(port);
  return { name: 'coturn', udp: port, tcp: port, pid: child.pid!, stop: () => stopChild(child) };
}

async function startPostern(): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      ...(process.env.RELAY_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.RELAY_CPU_PROF] : []),
      '--import',
      'tsx',
      join(ROOT, 'test/bench/relay/relay-process.ts'),
      JSON.stringify({ realm: REALM, allow: ['127.0.0.1/32'], maxAllocationsPerUser: 1000 }),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, BENCH_RELAY_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const ports = await new Promise<{ udp: number; tcp: number }>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as { udp: number; tcp: number });
    });
    child.once('exit', (code) => reject(new Error(`the Postern relay exited (${code}) before listening`)));
  });
  await waitForStun(ports.udp);
  return { name: 'postern', ...ports, pid: child.pid!, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

interface Result {
  scenario: string;
  server: string;
  run: number;
  sent: number;
  received: number;
  lossPct: number;
  rttMs: number;
  jitterMs: number;
  seconds: number;
  mbPerS: number;
  serverCpuS: number;
  /** Datagrams the server's own sockets dropped (receive buffer full), sampled during the run. */
  serverDrops: number;
  /** All other receive-buffer drops on the machine meanwhile: uclient's sockets, mostly. */
  otherDrops: number;
  failed?: string;
}

function runUclient(args: string[]): Promise<{ output: string; seconds: number; code: number | null }> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(UCLIENT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ output, seconds: Number(process.hrtime.bigint() - started) / 1e9, code });
    });
  });
}

async function measure(server: Server, scenario: Scenario, run: number): Promise<Result> {
  const { username, password } = issueTurnCredentials(SECRET, 'bench', 3600, Date.now());
  const port = scenario.args.includes('-t') ? server.tcp : server.udp;
  const args = [...COMMON, ...scenario.args, '-u', username, '-w', password, '-p', String(port), '127.0.0.1'];
  const cpuBefore = cpuSeconds(server.pid);
  const kernelBefore = udpRcvbufErrors();
  const serverDrops = watchServerDrops(server.pid);
  const { output, seconds, code } = await runUclient(args);
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  const dropsInServer = serverDrops();
  const dropsAll = udpRcvbufErrors() - kernelBefore;
  const num = (re: RegExp): number => Number(re.exec(output)?.[1] ?? Number.NaN);
  const sent = num(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=\d+/);
  const received = num(/start_mclient: tot_send_msgs=\d+, tot_recv_msgs=(\d+)/);
  const recvBytes = num(/start_mclient: tot_send_bytes ~ \d+, tot_recv_bytes ~ (\d+)/);
  const result: Result = {
    scenario: scenario.name,
    server: server.name,
    run,
    sent,
    received,
    lossPct: num(/Total lost packets \d+ \(([\d.]+)%\)/),
    rttMs: num(/Average round trip delay ([\d.]+) ms/),
    jitterMs: num(/Average jitter ([\d.]+) ms/),
    seconds,
    mbPerS: recvBytes / seconds / 1e6,
    serverCpuS: cpu,
    serverDrops: dropsInServer,
    otherDrops: Math.max(0, dropsAll - dropsInServer),
  };
  if (code !== 0 || Number.isNaN(sent)) result.failed = `uclient exit ${code}: ${output.split('\n').slice(-4).join(' | ')}`;
  return result;
}

function table(rows: Result[]): string {
  const headers = [
    'scenario',
    'server',
    'sent',
    'recv',
    'loss %',
    'RTT ms',
    'jitter ms',
    'recv MB/s',
    'wall s',
    'server CPU s',
    'server drops',
    'client drops',
  ];
  const cells = rows.map((r) => [
    r.scenario,
    r.server,
    String(r.sent),
    String(r.received),
    r.lossPct.toFixed(3),
    r.rttMs.toFixed(3),
    r.jitterMs.toFixed(3),
    r.mbPerS.toFixed(2),
    r.seconds.toFixed(2),
    r.serverCpuS.toFixed(2),
    String(r.serverDrops),
    String(r.otherDrops),
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i < 2 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ')} |`;
  return [line(headers), `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...cells.map(line)].join('\n');
}

const dir = mkdtempSync(join(tmpdir(), 'postern-relay-bench-'));
const servers: Server[] = [];
try {
  servers.push(await startPostern(), await startCoturn(dir));
  console.error(`postern relay udp ${servers[0]!.udp} tcp ${servers[0]!.tcp}; coturn ${servers[1]!.udp} (both 127.0.0.1)`);
  // Warm-up, not recorded: both servers get the same short load first (JIT, socket buffers, caches).
  for (const server of servers) await measure(server, { name: 'warm-up', args: ['-l', '500', '-n', '200', '-m', '4', '-z', '1'] }, 0);
  const results: Result[] = [];
  for (const scenario of chosen) {
    for (let run = 1; run <= repeat; run++) {
      // Alternate who goes first, so neither always runs on a warmer or quieter machine.
      const order = (run + chosen.indexOf(scenario)) % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const r = await measure(server, scenario, run);
        results.push(r);
        console.error(`${scenario.name} ${server.name}: ${r.failed ?? `${r.received}/${r.sent} msgs, loss ${r.lossPct}%`}`);
      }
    }
  }
  results.sort(
    (a, b) =>
      chosen.findIndex((s) => s.name === a.scenario) - chosen.findIndex((s) => s.name === b.scenario) || a.run - b.run || a.server.localeCompare(b.server),
  );
  console.log(`\nturnutils_uclient ${COMMON.join(' ')} <scenario args> -u USER -w PASS -p PORT 127.0.0.1\n`);
  for (const s of chosen) console.log(`  ${s.name.padEnd(10)} ${s.args.join(' ')}`);
  console.log(`\n${table(results)}`);
  for (const r of results.filter((x) => x.failed)) console.log(`  ${r.scenario} ${r.server}: ${r.failed}`);
  const out = join(ROOT, 'test/bench/results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `relay-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), common: COMMON, scenarios: chosen, results }, null, 2));
  console.log(`\nresults: ${file}`);
} finally {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
