/**
 * The open-loop load generator that runs inside the measured Worker process: sends are
 * scheduled on a fixed grid (1000/rate ms apart) and fired when due, never waiting for earlier
 * replies, so a slow reply cannot slow the offered load down (no coordinated omission). Each
 * round trip is timed from the moment the send was issued to the moment its promise resolved;
 * the time from the *scheduled* moment is kept too, which also charges any lateness of the
 * sender itself (a busy event loop) to the request.
 */
import { writeFileSync } from 'node:fs';
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

export interface LoadOptions {
  rate: number;
  seconds: number;
  warmupSeconds: number;
  /** How long one request may take before it counts as an error (also the drain deadline). */
  timeoutMs: number;
  /** Write every measured request as CSV (scheduled ms, send lag ms, round trip ms, scheduled epoch ms) here. */
  samplesPath?: string;
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadReport {
  offered: { rate: number; seconds: number; warmupSeconds: number; requests: number };
  sent: number;
  unsent: number;
  achievedRate: number;
  completedOk: number;
  errors: number;
  errorCodes: Record<string, number>;
  /** Round trip from the actual send to the resolution, ms. */
  rtt: Summary;
  /** From the scheduled send time to the resolution, ms (includes sender lateness). */
  rttFromSchedule: Summary;
  /** How late sends left compared to their schedule, ms. */
  sendLag: Summary;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** GC pauses of the Worker's main thread during the measured window. */
  gc: {
    count: number;
    totalMs: number;
    maxMs: number;
    byKind: Record<string, { count: number; totalMs: number; maxMs: number }>;
    /** Pauses of 5 ms or more: [start as epoch ms, duration ms, kind] (at most 500). */
    long: [number, number, string][];
  };
  cpuPercent: number;
  elapsedMs: number;
}

export type GcSummary = LoadReport['gc'];

/** Counts the GC pauses of this thread between start() and stop(). */
export function meterGc(): { start(): void; stop(): GcSummary } {
  const gc: GcSummary = { count: 0, totalMs: 0, maxMs: 0, byKind: {}, long: [] };
  const kinds: Record<number, string> = {
    [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[(entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      const k = (gc.byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += entry.duration;
      k.maxMs = Math.max(k.maxMs, entry.duration);
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
      if (entry.duration >= 5 && gc.long.length < 500) gc.long.push([performance.timeOrigin + entry.startTime, entry.duration, kind]);
    }
  });
  return {
    start: () => observer.observe({ entryTypes: ['gc'] }),
    stop: () => {
      observer.disconnect();
      return gc;
    },
  };
}

export function summarize(values: Float64Array): Summary {
  const n = values.length;
  if (n === 0) return { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return { count: n, mean: sum / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[n - 1]! };
}

/**
 * `fire()` issues one request and resolves with its outcome code ('ok' or an error code);
 * it must itself resolve within about `timeoutMs` (the Hub's deliver does; the echo reference
 * relies on the drain deadline below).
 */
export async function openLoop(options: LoadOptions, fire: () => Promise<string>): Promise<LoadReport> {
  const interval = 1000 / options.rate;
  const warm = Math.round(options.rate * options.warmupSeconds);
  const measured = Math.round(options.rate * options.seconds);
  const total = warm + measured;
  const rtt = new Float64Array(measured);
  const fromSchedule = new Float64Array(measured);
  const lag = new Float64Array(measured);
  const answered = new Uint8Array(measured);
  const errorCodes: Record<string, number> = {};
  let completedOk = 0;
  let outstanding = 0;
  let firstMeasuredSend = 0;
  let lastMeasuredSend = 0;
  let cpuAtStart: NodeJS.CpuUsage | null = null;
  const eld = monitorEventLoopDelay({ resolution: 1 });
  const gcMeter = meterGc();

  const start = performance.now() + 20;
  // Senders must stop even if the loop is hopelessly behind: the schedule plus 5 s, at most.
  const sendDeadline = start + (total / options.rate) * 1000 + 5_000;
  let i = 0;
  let allSent!: () => void;
  const sending = new Promise<void>((resolve) => (allSent = resolve));

  const issue = (index: number, scheduled: number) => {
    const t0 = performance.now();
    const m = index - warm;
    if (m === 0) {
      firstMeasuredSend = t0;
      cpuAtStart = process.cpuUsage();
      eld.enable();
      gcMeter.start();
    }
    if (m >= 0) {
      lastMeasuredSend = t0;
      lag[m] = t0 - scheduled;
    }
    outstanding++;
    fire().then(
      (code) => done(m, code, t0, scheduled),
      (err: unknown) => done(m, `exception: ${err instanceof Error ? err.message : String(err)}`.slice(0, 120), t0, scheduled),
    );
  };

  const done = (m: number, code: string, t0: number, scheduled: number) => {
    outstanding--;
    if (m < 0) return;
    const t1 = performance.now();
    rtt[m] = t1 - t0;
    fromSchedule[m] = t1 - scheduled;
    answered[m] = 1;
    if (code === 'ok') completedOk++;
    else errorCodes[code] = (errorCodes[code] ?? 0) + 1;
  };

  const tick = () => {
    const now = performance.now();
    if (now > sendDeadline) {
      allSent();
      return;
    }
    while (i < total && start + i * interval <= now) {
      issue(i, start + i * interval);
      i++;
    }
    if (i >= total) {
      allSent();
      return;
    }
    setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
  };
  setTimeout(tick, Math.max(0, start - performance.now()));
  await sending;

  // Drain: wait for the replies still in flight, bounded by the request timeout.
  const drainDeadline = performance.now() + options.timeoutMs + 2_000;
  while (outstanding > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 10));
  eld.disable();
  const gc = gcMeter.stop();
  const cpu = cpuAtStart ? process.cpuUsage(cpuAtStart) : { user: 0, system: 0 };
  const elapsedMs = performance.now() - (firstMeasuredSend || start);

  const sentMeasured = Math.max(0, i - warm);
  let noReply = 0;
  if (options.samplesPath) {
    // Epoch ms to line up with the GC pauses; monotonic µs to line up with .cpuprofile samples.
    const lines = ['scheduled_ms,send_lag_ms,rtt_ms,scheduled_epoch_ms,scheduled_mono_us'];
    const epoch0 = performance.timeOrigin + start + warm * interval;
    const mono0 = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000 + (start + warm * interval) * 1000;
    for (let m = 0; m < sentMeasured; m++) {
      const cells = [
        (m * interval).toFixed(3),
        lag[m]!.toFixed(3),
        answered[m] ? rtt[m]!.toFixed(3) : '',
        (epoch0 + m * interval).toFixed(3),
        (mono0 + m * interval * 1000).toFixed(0),
      ];
      lines.push(cells.join(','));
    }
    writeFileSync(options.samplesPath, `${lines.join('\n')}\n`);
  }
  // Percentiles cover every answered request, errors included (a timeout counts as its wait).
  const answeredRtt: number[] = [];
  const answeredSched: number[] = [];
  for (let m = 0; m < sentMeasured; m++) {
    if (!answered[m]) {
      noReply++;
      continue;
    }
    answeredRtt.push(rtt[m]!);
    answeredSched.push(fromSchedule[m]!);
  }
  if (noReply) errorCodes['no_reply'] = noReply;
  const errors = Object.values(errorCodes).reduce((a, b) => a + b, 0);
  const sendWindowS = (lastMeasuredSend - firstMeasuredSend) / 1000;
  return {
    offered: { rate: options.rate, seconds: options.seconds, warmupSeconds: options.warmupSeconds, requests: measured },
    sent: sentMeasured,
    unsent: measured - sentMeasured,
    achievedRate: sentMeasured > 1 && sendWindowS > 0 ? (sentMeasured - 1) / sendWindowS : 0,
    completedOk,
    errors: errors + (measured - sentMeasured),
    errorCodes,
    rtt: summarize(Float64Array.from(answeredRtt)),
    rttFromSchedule: summarize(Float64Array.from(answeredSched)),
    sendLag: summarize(lag.subarray(0, sentMeasured)),
    eventLoopDelayMs: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 },
    gc,
    cpuPercent: elapsedMs > 0 ? ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100 : 0,
    elapsedMs,
  };
}
