/**
 * What the fault suite measures: a steady paced load whose every request's outcome is kept
 * (when it was sent, how long it took, ok or the error code), and one table, printed at the end
 * of each file, with a row per fault: time to the first clear error, time until service after
 * the dependency returned, and the requests sent during the outage by outcome.
 */
export interface Outcome {
  /** When the request was sent (ms since the epoch). */
  at: number;
  ms: number;
  /** 'ok', or the error code the client saw ('untyped' for an error that is not a PosternError). */
  outcome: string;
}

export interface SteadyLoad {
  /** Resolves with the first outcome (sent so far or later) that `match` accepts. */
  waitFor(match: (o: Outcome) => boolean, timeoutMs: number): Promise<Outcome>;
  /** Stops sending, waits for the requests in flight, returns every outcome. */
  stop(): Promise<Outcome[]>;
}

/** `perSecond` requests a second, each `request()` started on schedule whether or not earlier ones finished. */
export function steadyLoad(perSecond: number, request: () => Promise<unknown>, codeOf: (err: unknown) => string): SteadyLoad {
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const watchers: { match: (o: Outcome) => boolean; resolve: (o: Outcome) => void }[] = [];
  const settle = (o: Outcome) => {
    outcomes.push(o);
    for (const w of [...watchers]) {
      if (w.match(o)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(o);
      }
    }
  };
  const timer = setInterval(() => {
    const at = Date.now();
    const p = request().then(
      () => settle({ at, ms: Date.now() - at, outcome: 'ok' }),
      (err: unknown) => settle({ at, ms: Date.now() - at, outcome: codeOf(err) }),
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }, 1000 / perSecond);
  return {
    waitFor: (match, timeoutMs) => {
      const seen = outcomes.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const watcher = { match, resolve: (o: Outcome) => (clearTimeout(t), resolve(o)) };
        const t = setTimeout(() => {
          watchers.splice(watchers.indexOf(watcher), 1);
          reject(new Error(`no matching outcome within ${timeoutMs} ms; last: ${JSON.stringify(outcomes.slice(-3))}`));
        }, timeoutMs);
        watchers.push(watcher);
      });
    },
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      return outcomes.sort((a, b) => a.at - b.at);
    },
  };
}

interface FaultRow {
  fault: string;
  /** null where no request was refused (a kill: the clients see the connection drop). */
  firstErrorMs: number | null;
  recoveryMs: number;
  outcomes: Outcome[];
}

const rows: FaultRow[] = [];

export function recordFault(row: FaultRow): void {
  rows.push(row);
}

export function printFaultTable(): void {
  if (rows.length === 0) return;
  const lines = [
    '| fault | first clear error (ms) | service back after return (ms) | requests during outage | ok | unavailable | other |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const count = (f: (o: Outcome) => boolean) => r.outcomes.filter(f).length;
      return `| ${r.fault} | ${r.firstErrorMs ?? '—'} | ${r.recoveryMs} | ${r.outcomes.length} | ${count((o) => o.outcome === 'ok')} | ${count((o) => o.outcome === 'unavailable')} | ${count((o) => o.outcome !== 'ok' && o.outcome !== 'unavailable')} |`;
    }),
  ];
  console.log(`\n[faults]\n${lines.join('\n')}\n`);
  rows.length = 0;
}
