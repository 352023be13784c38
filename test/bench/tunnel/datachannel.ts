/**
 * Benchmark: one ordered werift data channel on loopback, werift as shipped against werift with
 * Postern's patch set (patches/werift+*.patch, docs/upstream/werift.md), moving --size MiB as
 * 64 KiB and 16 KiB messages. It measures; it asserts nothing.
 *
 *   npx tsx test/bench/tunnel/datachannel.ts [--size 256] [--msg 65536,16384]
 *        [--variants unpatched,patched] [--mode two-process|one-process|both]
 *        [--repeat 1] [--timeout 120] [--high 4194304] [--low 1048576] [--cpu-prof DIR]
 *   (BENCH_DEBUG=1 prints the sender's SCTP state every 500 ms; --cpu-prof DIR writes one
 *   V8 CPU profile per process under DIR/<variant>-<msg>-<role>/)
 *
 * Each run uses fresh processes (the werift package is chosen per process): in `two-process` mode the sender
 * (the CLI's role, offerer) and the receiver (the gateway's role, answerer) are separate child
 * processes signalling through this runner over IPC, like real life; in `one-process` mode
 * both peers share one child. The sender keeps `bufferedAmount` under --high and waits for
 * `bufferedamountlow` (threshold --low) — with a 50 ms poll as a safety net so that a missing
 * event shows as a slow run, not a hang; "low-polls" counts polls that found the queue at or
 * under the low mark without the event having fired (i.e. missed events).
 *
 * Columns: MB/s (10^6 bytes per second, first send to last byte delivered); CPU% = CPU time
 * of both peers' processes / wall time (100% = one core); MB per CPU-s = bytes delivered per
 * CPU-second of the busier process (what a dedicated core per peer would carry — the number to
 * compare on a loaded machine); datagrams sent (both directions); SCTP packet = the size the
 * sender used (1228 = werift's; larger once SCTP path MTU discovery, the sctp-path-mtu patch,
 * confirmed it);
 * DATA retransmissions (chunks sent more than once) and T3 timeouts, counted on the sender's
 * SCTP association; "verified" = every message arrived in order with the right length and
 * sequence stamp (the unit tests check full byte equality).
 *
 * Variants: `unpatched` = werift as shipped (the `werift-stock` package, loaded in place of
 * `werift` by node/webrtc/testing/stock-werift-loader.mjs; node/webrtc/peer.ts then adds a
 * loopback STUN server so that werift's Google fallback never applies; max-message-size stays
 * werift's 64 KiB); `patched` = the `werift` package with the patch set. The changes cannot be
 * switched one by one at run time any more: to measure one, build a werift with a prefix of the
 * patch sequence (docs/upstream/werift.md says how).
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RTCDataChannel, RTCPeerConnection, RTCSessionDescriptionInit } from 'werift';
import type { WeriftPeerInternals, WeriftSctpChunk, WeriftSctpInternals } from '../../../node/webrtc/testing/werift-internals.ts';

const SELF = fileURLToPath(import.meta.url);
const STOCK_WERIFT_LOADER = new URL('../../../node/webrtc/testing/stock-werift-loader.mjs', import.meta.url).href;

interface RunSpec {
  variant: 'unpatched' | 'patched';
  size: number;
  msg: number;
  high: number;
  low: number;
  timeoutMs: number;
}

interface SenderResult {
  startedAt: number;
  cpuMs: number;
  datagrams: number;
  retransmits: number;
  t3: number;
  polls: number;
  sent: number;
  tuning: unknown;
  /** SCTP packet size the sender used (after path MTU discovery; 1228 = werift's default). */
  packet: number;
}
interface ReceiverResult {
  endedAt: number;
  firstAt: number;
  cpuMs: number;
  datagrams: number;
  received: number;
  verified: boolean;
  error?: string;
}

/**
 * IPC between the runner and its children. Children send offer/answer/ready/result; the runner
 * forwards offer, answer and ready to the other child, and queues `exit` itself when a child ends.
 * (Either werift, stock or patched, has the same types: both are 0.24.4.)
 */
type BenchMessage =
  | { type: 'offer'; sdp: RTCSessionDescriptionInit }
  | { type: 'answer'; sdp: RTCSessionDescriptionInit }
  | { type: 'ready' }
  | { type: 'result'; sender?: SenderResult; receiver?: ReceiverResult }
  | { type: 'exit'; code: number | null };

/** Narrows an IPC message (JSON from another process, so typed only by this check) to one type. */
function isMessage<T extends BenchMessage['type']>(m: unknown, type: T): m is Extract<BenchMessage, { type: T }> {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;
}

/** Counters kept by instrument() and the hook that installs them once SCTP exists. */
interface Instrumentation {
  stats: { datagrams: number; retransmits: number; t3: number; tuning: string };
  hook: () => boolean;
}

// ------------------------------------------------------------------------------------------
// child side
// ------------------------------------------------------------------------------------------

async function childMain(role: 'sender' | 'receiver' | 'both', spec: RunSpec): Promise<void> {
  const send = (m: BenchMessage) => process.send!(m);
  const { peerFor, instrument } = await setupPeers(spec);
  const inbox: unknown[] = [];
  let waiter: ((m: unknown) => void) | undefined;
  process.on('message', (m: unknown) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(m);
    } else inbox.push(m);
  });
  const next = () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise<unknown>((r) => (waiter = r)));

  if (role === 'both') {
    const a = peerFor();
    const b = peerFor();
    const { connectPair } = await import('../../../node/webrtc/testing/loopback.ts');
    const { offererChannel, answererChannel } = await connectPair(a, b);
    const { startSctpPathMtuDiscovery, POSTERN_SCTP_MAX_PACKET } = await import('../../../node/webrtc/peer.ts');
    void startSctpPathMtuDiscovery(b, POSTERN_SCTP_MAX_PACKET);
    const packet = await startSctpPathMtuDiscovery(a, POSTERN_SCTP_MAX_PACKET);
    const recv = receive(answererChannel, spec, instrument(b));
    const s = { ...(await sendAll(offererChannel, spec, instrument(a))), packet };
    const r = await recv;
    send({ type: 'result', sender: s, receiver: r });
  } else if (role === 'sender') {
    const { waitForIceGatheringComplete, startSctpPathMtuDiscovery, POSTERN_SCTP_MAX_PACKET } = await import('../../../node/webrtc/peer.ts');
    const pc = peerFor();
    const channel = pc.createDataChannel('tunnel', { ordered: true });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGatheringComplete(pc, 5000);
    send({ type: 'offer', sdp: pc.localDescription! });
    const answer = await next();
    if (!isMessage(answer, 'answer')) throw new Error(`runner: ${JSON.stringify(answer)}`);
    await pc.setRemoteDescription(answer.sdp);
    await new Promise<void>((r) => (channel.readyState === 'open' ? r() : channel.stateChanged.subscribe((s) => s === 'open' && r())));
    // Like the tunnel: both peers are Postern's, so each probes for larger SCTP packets (a no-op
    // on stock werift). The sender starts once its probe is settled.
    const packet = await startSctpPathMtuDiscovery(pc, POSTERN_SCTP_MAX_PACKET);
    await next(); // receiver ready
    const s = { ...(await sendAll(channel, spec, instrument(pc))), packet };
    send({ type: 'result', sender: s });
  } else {
    const { waitForIceGatheringComplete, startSctpPathMtuDiscovery, POSTERN_SCTP_MAX_PACKET } = await import('../../../node/webrtc/peer.ts');
    const pc = peerFor();
    const channelP = new Promise<RTCDataChannel>((r) => pc.onDataChannel.subscribe(r));
    const offer = await next();
    if (!isMessage(offer, 'offer')) throw new Error(`runner: ${JSON.stringify(offer)}`);
    await pc.setRemoteDescription(offer.sdp);
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGatheringComplete(pc, 5000);
    send({ type: 'answer', sdp: pc.localDescription! });
    const channel = await channelP;
    if (channel.readyState !== 'open') await new Promise<void>((r) => channel.stateChanged.subscribe((s: string) => s === 'open' && r()));
    void startSctpPathMtuDiscovery(pc, POSTERN_SCTP_MAX_PACKET);
    const recv = receive(channel, spec, instrument(pc));
    send({ type: 'ready' });
    send({ type: 'result', receiver: await recv });
  }
  // Let the IPC flush, then leave without a graceful close (not measured).
  setTimeout(() => process.exit(0), 50);
}

async function setupPeers(spec: RunSpec) {
  const { createPeerConnection, WERIFT_BUILD } = await import('../../../node/webrtc/peer.ts');
  const unpatched = spec.variant === 'unpatched';
  if (WERIFT_BUILD !== (unpatched ? 'stock' : 'patched')) throw new Error(`variant ${spec.variant} loaded ${WERIFT_BUILD} werift`);
  const tuning = WERIFT_BUILD;
  const peerFor = () =>
    createPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      // werift's own default for the unpatched baseline; messages here are ≤ 64 KiB anyway.
      ...(unpatched ? { maxMessageSize: 65536 } : {}),
    });
  // Count datagrams and retransmissions by wrapping instance methods (bench only).
  const instrument = (pc: RTCPeerConnection): Instrumentation => {
    const internals = pc as unknown as WeriftPeerInternals;
    const stats = { datagrams: 0, retransmits: 0, t3: 0, tuning };
    const hook = () => {
      const sctp: (WeriftSctpInternals & { __benchHooked?: boolean }) | undefined = internals.sctpTransport?.sctp;
      if (!sctp || sctp.__benchHooked) return !!sctp;
      sctp.__benchHooked = true;
      const sendChunk = sctp.sendChunk.bind(sctp);
      sctp.sendChunk = (chunk: WeriftSctpChunk) => {
        if (chunk.type === 0 && (chunk.sentCount ?? 0) > 1) stats.retransmits++;
        return sendChunk(chunk);
      };
      const t3 = sctp.timer3Expired;
      sctp.timer3Expired = () => {
        stats.t3++;
        return t3();
      };
      const ice = internals.iceTransports?.[0]?.connection;
      const p = ice?.nominated?.protocol?.transport;
      if (p) {
        const s = p.socket;
        const orig = s.send;
        s.send = function (this: Socket, ...args: unknown[]) {
          stats.datagrams++;
          return Reflect.apply(orig, this, args);
        };
      }
      return true;
    };
    hook();
    return { stats, hook };
  };
  return { peerFor, instrument };
}

function stamp(buf: Buffer, seq: number) {
  buf.writeUInt32BE(seq, 0);
  buf.writeUInt32BE(seq ^ 0x5a5a5a5a, buf.length - 4);
}

async function sendAll(channel: RTCDataChannel, spec: RunSpec, inst: Instrumentation): Promise<Omit<SenderResult, 'packet'>> {
  inst.hook();
  channel.bufferedAmountLowThreshold = spec.low;
  const count = Math.ceil(spec.size / spec.msg);
  const template = Buffer.alloc(spec.msg, 0xab);
  let polls = 0;
  let lowWaiter: (() => void) | undefined;
  channel.bufferedAmountLow.subscribe(() => {
    const w = lowWaiter;
    lowWaiter = undefined;
    w?.();
  });
  const cpu0 = process.cpuUsage();
  const startedAt = Date.now();
  let sent = 0;
  const debug = process.env.BENCH_DEBUG
    ? setInterval(() => {
        const s = channel.sctp?.sctp as unknown as WeriftSctpInternals | undefined;
        console.error(
          `[sender ${Date.now() - startedAt} ms] sent ${(sent / 1e6).toFixed(1)} MB buffered ${channel.bufferedAmount} cwnd ${s?.cwnd} flight ${s?.flightSize} outQ ${s?.outboundQueue?.length} sentQ ${s?.sentQueue?.length} peerRwnd ${s?.peerRwnd} srtt ${s?.srtt?.toFixed?.(4)} rto ${s?.rto}`,
        );
      }, 500)
    : undefined;
  for (let seq = 0; seq < count; seq++) {
    while (channel.bufferedAmount > spec.high) {
      const gotEvent = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          lowWaiter = undefined;
          resolve(false);
        }, 50);
        lowWaiter = () => {
          clearTimeout(t);
          resolve(true);
        };
      });
      // A missed bufferedamountlow: the queue fell to the low mark but no event came.
      if (!gotEvent && channel.bufferedAmount <= spec.low) polls++;
      if (Date.now() - startedAt > spec.timeoutMs) break;
    }
    if (Date.now() - startedAt > spec.timeoutMs) break;
    const buf = Buffer.from(template); // a fresh buffer per message, as a tunnel would have
    stamp(buf, seq);
    channel.send(buf);
    sent += buf.length;
  }
  // Wait until the receiver says done (the runner kills us) or our queue drains.
  while (channel.bufferedAmount > 0 && Date.now() - startedAt < spec.timeoutMs) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  if (debug) clearInterval(debug);
  const cpu = process.cpuUsage(cpu0);
  return { startedAt, cpuMs: (cpu.user + cpu.system) / 1000, polls, sent, ...inst.stats };
}

function receive(channel: RTCDataChannel, spec: RunSpec, inst: Instrumentation): Promise<ReceiverResult> {
  const count = Math.ceil(spec.size / spec.msg);
  let received = 0;
  let seq = 0;
  let verified = true;
  let firstAt = 0;
  const cpu0 = process.cpuUsage();
  return new Promise((resolve) => {
    const started = Date.now();
    const finish = (error?: string) => {
      clearInterval(watchdog);
      inst.hook();
      const cpu = process.cpuUsage(cpu0);
      resolve({
        endedAt: Date.now(),
        firstAt,
        cpuMs: (cpu.user + cpu.system) / 1000,
        datagrams: inst.stats.datagrams,
        received,
        verified: verified && !error,
        ...(error ? { error } : {}),
      });
    };
    // Stop at the deadline; a stalled transfer reports what arrived.
    const watchdog = setInterval(() => {
      inst.hook();
      if (Date.now() - started > spec.timeoutMs + 5000) finish(`timeout after ${received} bytes`);
    }, 200);
    channel.onMessage.subscribe((data) => {
      // Only binary messages are sent; a string one fails the checks below.
      const m = typeof data === 'string' ? Buffer.from(data) : data;
      if (!firstAt) firstAt = Date.now();
      if (m.length !== spec.msg || m.readUInt32BE(0) !== seq || m.readUInt32BE(m.length - 4) !== (seq ^ 0x5a5a5a5a) >>> 0) verified = false;
      seq++;
      received += m.length;
      if (seq === count) finish();
    });
  });
}

// ------------------------------------------------------------------------------------------
// runner side
// ------------------------------------------------------------------------------------------

function spawnChild(role: string, spec: RunSpec, cpuProfDir?: string): ChildProcess {
  const execArgv = ['--import', 'tsx'];
  const env = { ...process.env };
  if (spec.variant === 'unpatched') {
    execArgv.unshift('--import', STOCK_WERIFT_LOADER);
    env['POSTERN_ALLOW_STOCK_WERIFT'] = '1';
  }
  // One directory per process (the tsx loader thread writes its own profile next to the main one).
  if (cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${cpuProfDir}/${spec.variant.replace(/[^a-z0-9+-]/gi, '_')}-${spec.msg}-${role}`);
  return fork(SELF, ['--child', role, '--spec', JSON.stringify(spec)], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function onMessage(child: ChildProcess): () => Promise<unknown> {
  const inbox: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  child.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  child.on('exit', (code) => {
    for (const w of waiters.splice(0)) w({ type: 'exit', code });
    inbox.push({ type: 'exit', code });
  });
  return () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => waiters.push(r)));
}

interface Row {
  mode: string;
  variant: string;
  msg: number;
  mbps: number;
  cpu: number;
  mbPerCpuS: number;
  datagrams: number;
  packet: number;
  retransmits: number;
  t3: number;
  polls: number;
  verified: boolean;
  note: string;
}

async function runOne(mode: 'two-process' | 'one-process', spec: RunSpec, cpuProfDir?: string): Promise<Row> {
  const hardDeadline = spec.timeoutMs + 30_000;
  const kill: ChildProcess[] = [];
  const guard = setTimeout(() => kill.forEach((c) => c.kill('SIGKILL')), hardDeadline);
  try {
    let s: SenderResult;
    let r: ReceiverResult;
    if (mode === 'one-process') {
      const c = spawnChild('both', spec, cpuProfDir);
      kill.push(c);
      const next = onMessage(c);
      const m = await next();
      if (!isMessage(m, 'result') || !m.sender || !m.receiver) throw new Error(`child: ${JSON.stringify(m)}`);
      s = m.sender;
      r = m.receiver;
      // one process: CPU of both peers is the process's CPU (count it once).
      r = { ...r, cpuMs: 0 };
      s = { ...s, cpuMs: Math.max(s.cpuMs, m.receiver.cpuMs) };
      await new Promise((res) => c.once('exit', res));
    } else {
      const sender = spawnChild('sender', spec, cpuProfDir);
      const receiver = spawnChild('receiver', spec, cpuProfDir);
      kill.push(sender, receiver);
      const fromS = onMessage(sender);
      const fromR = onMessage(receiver);
      const offer = await fromS();
      if (!isMessage(offer, 'offer')) throw new Error(`sender: ${JSON.stringify(offer)}`);
      receiver.send(offer);
      const answer = await fromR();
      if (!isMessage(answer, 'answer')) throw new Error(`receiver: ${JSON.stringify(answer)}`);
      sender.send(answer);
      const ready = await fromR();
      if (!isMessage(ready, 'ready')) throw new Error(`receiver: ${JSON.stringify(ready)}`);
      sender.send(ready);
      const [ms, mr] = await Promise.all([fromS(), fromR()]);
      if (!isMessage(ms, 'result') || !ms.sender || !isMessage(mr, 'result') || !mr.receiver) throw new Error(`children: ${JSON.stringify([ms, mr])}`);
      s = ms.sender;
      r = mr.receiver;
      await Promise.all([sender, receiver].map((c) => (c.exitCode === null ? new Promise((res) => c.once('exit', res)) : undefined)));
    }
    const wallMs = Math.max(1, r.endedAt - s.startedAt);
    return {
      mode,
      variant: spec.variant,
      msg: spec.msg,
      mbps: r.received / 1e6 / (wallMs / 1000),
      cpu: ((s.cpuMs + r.cpuMs) / wallMs) * 100,
      // What one dedicated core per peer would carry: bytes per CPU-second of the busier process
      // (one-process mode: of the single process). Robust to other load on the machine.
      mbPerCpuS: r.received / 1e6 / (Math.max(s.cpuMs, r.cpuMs) / 1000),
      datagrams: s.datagrams + r.datagrams,
      packet: s.packet,
      retransmits: s.retransmits,
      t3: s.t3,
      polls: s.polls,
      verified: r.verified && r.received === spec.size,
      note: r.error ?? '',
    };
  } finally {
    clearTimeout(guard);
    for (const c of kill) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

async function runnerMain(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '256' },
      msg: { type: 'string', default: '65536,16384' },
      variants: { type: 'string', default: 'unpatched,patched' },
      mode: { type: 'string', default: 'two-process' },
      repeat: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '120' },
      high: { type: 'string', default: String(4 * 1024 * 1024) },
      low: { type: 'string', default: String(1024 * 1024) },
      'cpu-prof': { type: 'string' },
    },
  });
  const size = Math.round(Number(values.size) * 1024 * 1024);
  const msgs = values.msg!.split(',').map(Number);
  const modes = values.mode === 'both' ? (['two-process', 'one-process'] as const) : [values.mode as 'two-process' | 'one-process'];
  const cpuProf = values['cpu-prof'];
  if (cpuProf) mkdirSync(cpuProf, { recursive: true });
  const rows: Row[] = [];
  console.log(`werift data channel, ${values.size} MiB per run, loopback, node ${process.version}`);
  for (const mode of modes) {
    for (const variant of values.variants!.split(',')) {
      if (variant !== 'patched' && variant !== 'unpatched') throw new Error(`unknown variant ${variant}: patched or unpatched`);
      for (const msg of msgs) {
        for (let i = 0; i < Number(values.repeat); i++) {
          const spec: RunSpec = { variant, size, msg, high: Number(values.high), low: Number(values.low), timeoutMs: Number(values.timeout) * 1000 };
          let row: Row;
          try {
            row = await runOne(mode, spec, cpuProf);
          } catch (e) {
            row = {
              mode,
              variant,
              msg,
              mbps: 0,
              cpu: 0,
              mbPerCpuS: 0,
              datagrams: 0,
              packet: 0,
              retransmits: 0,
              t3: 0,
              polls: 0,
              verified: false,
              note: String(e).slice(0, 80),
            };
          }
          rows.push(row);
          console.log(fmt(row));
        }
      }
    }
  }
  console.log('\n| mode | variant | msg | MB/s | CPU% | MB per CPU-s | datagrams | SCTP packet | DATA rtx | T3 | low-polls | ok | note |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(fmt(r));
}

function fmt(r: Row): string {
  return `| ${r.mode} | ${r.variant} | ${r.msg / 1024} KiB | ${r.mbps.toFixed(1)} | ${r.cpu.toFixed(0)} | ${r.mbPerCpuS.toFixed(1)} | ${r.datagrams} | ${r.packet} | ${r.retransmits} | ${r.t3} | ${r.polls} | ${r.verified ? 'yes' : 'NO'} | ${r.note} |`;
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  childMain(argv[1] as 'sender' | 'receiver' | 'both', JSON.parse(argv[3]!)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  runnerMain().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
