/**
 * What the Router knows about its database, for /healthz (liveness: the process answers, and
 * says what is down) and /readyz (readiness: a load balancer stops sending traffic while the
 * database is away, and resumes when it is back). A probe is one `select 1` with a deadline,
 * shared by concurrent callers and reused for PROBE_REUSE_MS, so health checks cannot load the
 * database. Faults seen by requests are noted too, and an outage is logged once when it begins
 * and once when it ends, not once per refused request.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../core/storage/schema.ts';
import type { Logger } from '../../core/logger.ts';
import { databaseFault, type DatabaseFault } from './database-faults.ts';

export const PROBE_TIMEOUT_MS = 2_000;
export const PROBE_REUSE_MS = 1_000;

export interface DatabaseState {
  ok: boolean;
  /** What is wrong, while not ok. */
  fault?: DatabaseFault | 'timeout' | 'error';
  /** When the current outage was first seen (ms since the epoch), while not ok. */
  downSince?: number;
  /** How long the last probe took. */
  latencyMs?: number;
}

export class DatabaseHealth {
  private state: DatabaseState = { ok: true };
  private probing: Promise<DatabaseState> | null = null;
  private probedAt = -Infinity;
  /** While down: probes on a timer, so the return is seen (and logged) without waiting for traffic. */
  private watch: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** A request met `err`; when it shows the database away, the state turns to down. */
  noteError(err: unknown): void {
    const fault = databaseFault(err);
    if (fault) this.down(fault);
  }

  /** The current state, probing the database if the last probe is older than PROBE_REUSE_MS. */
  check(): Promise<DatabaseState> {
    if (this.now() - this.probedAt < PROBE_REUSE_MS) return Promise.resolve(this.state);
    this.probing ??= this.probe().finally(() => {
      this.probing = null;
      this.probedAt = this.now();
    });
    return this.probing;
  }

  private async probe(): Promise<DatabaseState> {
    const started = this.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([sql`select 1`.execute(this.db).then(() => 'ok' as const), deadline]);
      if (outcome === 'timeout') this.down('timeout');
      else this.up(this.now() - started);
    } catch (err) {
      this.down(databaseFault(err) ?? 'error');
    } finally {
      clearTimeout(timer);
    }
    return this.state;
  }

  private down(fault: NonNullable<DatabaseState['fault']>): void {
    if (this.state.ok) {
      this.logger.warn({ dependency: 'database', fault }, 'database unavailable: requests that need it are answered 503 until it is back');
      this.state = { ok: false, fault, downSince: this.now() };
      this.watch ??= setInterval(() => void this.check(), PROBE_REUSE_MS);
      (this.watch as { unref?: () => void }).unref?.();
    } else {
      this.state = { ...this.state, fault };
    }
  }

  private up(latencyMs: number): void {
    if (!this.state.ok) this.logger.warn({ dependency: 'database', downForMs: this.now() - (this.state.downSince ?? this.now()) }, 'database available again');
    this.state = { ok: true, latencyMs };
    this.close();
  }

  /** Stops the watch timer (the Router is closing, or the database is back). */
  close(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
  }
}
