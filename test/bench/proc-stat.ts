/**
 * CPU readings from /proc, for the runner: a process's CPU time (all its threads: the event
 * loop, libuv's thread pool, V8's GC helpers) and the whole machine's, so that the table can
 * say which process used how much of the two cores during a load phase. Read from outside, so
 * a busy event loop in the measured process does not delay the reading.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat and /proc/stat (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS = 100;

/** Busy and total ticks of all CPUs together. */
export function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** utime + stime of a process in ticks (0 once it is gone). */
export function processTicks(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export interface CpuSnapshot {
  at: number;
  machine: { busy: number; total: number };
  processes: number[];
}

export function snapshot(pids: (number | undefined)[]): CpuSnapshot {
  return { at: performance.now(), machine: machineTicks(), processes: pids.map(processTicks) };
}

export interface CpuDelta {
  wallMs: number;
  /** CPU ms of each process, in the order of the pids given to snapshot(). */
  processMs: number[];
  /** Busy CPU of the whole machine, everyone's processes, in % of one core (2 cores = 200). */
  machinePercent: number;
  /** The part of machinePercent not spent by the given processes: the neighbours. */
  othersPercent: number;
}

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuDelta {
  const wallMs = b.at - a.at;
  const processMs = b.processes.map((t, i) => ((t - a.processes[i]!) * 1000) / CLOCK_TICKS);
  const elapsed = (b.machine.total - a.machine.total) / cpus().length;
  const machinePercent = elapsed > 0 ? ((b.machine.busy - a.machine.busy) / elapsed) * 100 : 0;
  const ownPercent = wallMs > 0 ? (processMs.reduce((x, y) => x + y, 0) / wallMs) * 100 : 0;
  return { wallMs, processMs, machinePercent, othersPercent: Math.max(0, machinePercent - ownPercent) };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Latency on a small shared machine mostly measures the neighbours. Before a load phase, wait
 * (at most `waitS` seconds) until the rest of the machine uses less than `thresholdPercent` of
 * a core; `pids` are the benchmark's own processes, not counted as neighbours.
 */
export async function waitForQuiet(
  pids: (number | undefined)[],
  waitS: number,
  thresholdPercent: number,
  log: (msg: string) => void,
): Promise<{ waitedMs: number; othersPercent: number }> {
  const started = Date.now();
  let others = 0;
  let said = false;
  do {
    const a = snapshot(pids);
    await sleep(2_000);
    others = cpuBetween(a, snapshot(pids)).othersPercent;
    if (others <= thresholdPercent) break;
    if (!said) log(`other processes use ${others.toFixed(0)} % CPU; waiting up to ${waitS} s for < ${thresholdPercent} %`);
    said = true;
  } while (Date.now() - started < waitS * 1000);
  if (said)
    log(others <= thresholdPercent ? `quiet after ${((Date.now() - started) / 1000).toFixed(0)} s` : `still ${others.toFixed(0)} % busy; measuring anyway`);
  return { waitedMs: Date.now() - started, othersPercent: others };
}
