/**
 * The Head's rotation scheduler: fires stored rotation schedules (`postern rotation set`) as
 * the very `rotate` action their owner would send by hand, once per due time, however many
 * Router processes run a Head against the same database.
 *
 * Every tick (1 s by default) it reads a bounded batch of schedules whose `next_run_at` has
 * come, and for each one:
 *
 * 1. claims the run by INSERTing `schedule_runs (record_uid, due_at = next_run_at)`. The table's
 *    primary key makes that insert the exactly-once claim: a conflict means another process
 *    (or an earlier tick of this one) already owns this due time, so this one does not fire;
 * 2. advances `next_run_at` to `nextRunAfter(schedule, max(now, due))` with an UPDATE that only
 *    matches while `next_run_at` still equals the due time. It does this even after losing the
 *    claim, so a process that died between claiming and advancing never leaves a schedule stuck;
 * 3. fires `startAction(…, { userUid: owner, label: 'schedule' }, { action: 'rotate', … })`
 *    without holding up the tick, and records the outcome on the run (`ok`, the action's code,
 *    `denied` when the owner may no longer rotate the record, or the Router error code) and as
 *    an audit event (`action.rotate`, actor kind `system`, actor `schedule`).
 *
 * Delivery is at most once per due time: a process that dies after claiming and before firing
 * leaves the run as `claimed` rather than firing it twice.
 *
 * Missed runs. A schedule that came due while no Head was running (the Router was stopped) fires
 * once after start, not once per missed slot. The run is recorded under the stored
 * `next_run_at` (the first missed due time: the one value every Head agrees on, so the claim
 * stays exactly-once) and `next_run_at` then moves to the first slot after now; the slots in
 * between are skipped. A run-once schedule whose time passed while the Router was down fires on
 * start the same way. Gateways reconnect to a restarted Router with backoff, so for its first
 * `startGraceMs` (default 30 s, the gateway's backoff cap) a Head leaves a due schedule whose
 * gateway is not connected yet for a later tick instead of firing it into `controller_down`;
 * after that window a schedule fires whether or not its gateway is there, as a person's
 * `postern action rotate` would, and an offline gateway is recorded as `controller_down`.
 *
 * While the cluster bus (NATS) is down, a due schedule whose gateway is not connected to this
 * very process is not claimed: it stays due and fires once, on the first tick after the bus is
 * back, instead of being recorded as `controller_down` and skipped until its next slot. A
 * database outage has the same effect by itself (the tick cannot read the schedules).
 *
 * Schedules whose stored JSON no longer parses, or that can never come due again, are switched
 * off (`next_run_at = NULL`) and logged, instead of being retried every tick. Nothing one
 * schedule does stops the loop. Logs carry UIDs and codes only.
 */
import type { Kysely, Selectable } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { ActionOutcome } from '../../core/protocol/vault-api.ts';
import { nextRunAfter } from '../../core/schedule/next-run.ts';
import { rotationScheduleSchema } from '../../core/schedule/rotation-schedule.ts';
import type { Database, RotationSchedulesTable } from '../../core/storage/schema.ts';
import { startAction, type ActionEnv } from '../actions/start-action.ts';
import { recordEvent } from '../audit/events.ts';
import { SESSION_FRESH_MS, type GatewayHub } from '../gateway/hub.ts';
import type { Logger } from '../../core/logger.ts';

export const DEFAULT_TICK_MS = 1_000;
export const DEFAULT_BATCH_SIZE = 100;
/** The gateway's reconnect backoff cap (gateway/link/backoff.ts): by then its gateways are back. */
export const DEFAULT_START_GRACE_MS = 30_000;
/** How long close() waits for rotations already handed to a gateway to report their outcome. */
const DRAIN_GRACE_MS = 3_000;
/** Audit `client_ip` for what the Router itself starts. */
export const SCHEDULER_ADDRESS = 'router';

export interface HeadOptions {
  /** Pause between ticks (default 1 s). */
  tickMs?: number;
  /** Most due schedules taken per tick (default 100); the rest wait for the next tick. */
  batchSize?: number;
  /** After start, how long a due schedule waits for its gateway to reconnect (default 30 s). */
  startGraceMs?: number;
}

export interface SchedulerOptions extends HeadOptions {
  db: Kysely<Database>;
  hub: GatewayHub;
  logger: Logger;
  now: () => number;
  /** Recorded as `schedule_runs.fired_by`. */
  workerId: string;
  /** Defaults to startAction; tests substitute it. */
  fire?: typeof startAction;
}

type ScheduleRow = Selectable<RotationSchedulesTable>;

/** What one tick did, for tests and debug logs. */
export interface TickResult {
  due: number;
  claimed: string[];
  skipped: string[];
}

export class RotationScheduler {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ticking: Promise<unknown> | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;
  private readonly tickMs: number;
  private readonly batchSize: number;
  private readonly fireAction: typeof startAction;
  private readonly graceEndsAt: number;

  constructor(private readonly options: SchedulerOptions) {
    this.tickMs = Math.max(10, options.tickMs ?? DEFAULT_TICK_MS);
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.fireAction = options.fire ?? startAction;
    this.graceEndsAt = options.now() + Math.max(0, options.startGraceMs ?? DEFAULT_START_GRACE_MS);
  }

  /** Begins ticking; the first tick runs at once, so overdue schedules fire right after start. */
  start(): this {
    if (!this.stopped && !this.timer && !this.ticking) this.schedule(0);
    this.options.logger.info({ worker: this.options.workerId, tickMs: this.tickMs }, 'rotation scheduler started');
    return this;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ticking = this.tick()
        .catch((err: unknown) => this.options.logger.warn({ err: errorText(err) }, 'rotation scheduler tick failed'))
        .finally(() => {
          this.ticking = null;
          this.schedule(this.tickMs);
        });
    }, delayMs);
    unrefTimer(this.timer);
  }

  /** One pass over the due schedules. Public so tests (and a future Durable Object alarm) can drive it. */
  async tick(): Promise<TickResult> {
    const now = this.options.now();
    const rows = await this.options.db
      .selectFrom('rotation_schedules')
      .selectAll()
      .where('next_run_at', 'is not', null)
      .where('next_run_at', '<=', now)
      .orderBy('next_run_at')
      .limit(this.batchSize)
      .execute();
    const result: TickResult = { due: rows.length, claimed: [], skipped: [] };
    for (const row of rows) {
      if (this.stopped) break;
      try {
        if (now < this.graceEndsAt && !(await this.gatewayReachable(row.configuration_uid, now))) {
          result.skipped.push(row.record_uid);
          this.options.logger.debug({ record: row.record_uid }, 'scheduled rotation waits for its gateway to reconnect');
        } else if (!this.options.hub.busStatus().ok && !(await this.gatewayConnectedHere(row.configuration_uid))) {
          result.skipped.push(row.record_uid);
          this.options.logger.debug({ record: row.record_uid }, 'scheduled rotation waits for the cluster bus to reconnect');
        } else if (await this.claim(row, now)) result.claimed.push(row.record_uid);
        else result.skipped.push(row.record_uid);
      } catch (err) {
        result.skipped.push(row.record_uid);
        this.options.logger.warn({ record: row.record_uid, err: errorText(err) }, 'could not claim a scheduled rotation; retrying next tick');
      }
    }
    return result;
  }

  /**
   * Whether the gateway a PAM configuration names could take an action now: connected here, or
   * freshly seen on another Worker (hub.deliver's own test). A configuration without a gateway
   * counts as reachable, so that its run fails visibly (`bad_state`) rather than waiting.
   */
  private async gatewayReachable(configurationUid: string, now: number): Promise<boolean> {
    const binding = await this.options.db
      .selectFrom('pam_configurations')
      .leftJoin('gateway_sessions', 'gateway_sessions.gateway_uid', 'pam_configurations.gateway_uid')
      .select(['pam_configurations.gateway_uid', 'gateway_sessions.worker_id', 'gateway_sessions.last_seen_at'])
      .where('pam_configurations.config_uid', '=', configurationUid)
      .executeTakeFirst();
    if (!binding) return true;
    if (this.options.hub.isConnectedHere(binding.gateway_uid)) return true;
    return binding.worker_id !== null && binding.worker_id !== this.options.hub.workerId && Number(binding.last_seen_at) > now - SESSION_FRESH_MS;
  }

  /** Whether the configuration's gateway is connected to this very process (no bus needed to reach it). */
  private async gatewayConnectedHere(configurationUid: string): Promise<boolean> {
    const binding = await this.options.db.selectFrom('pam_configurations').select('gateway_uid').where('config_uid', '=', configurationUid).executeTakeFirst();
    return binding !== undefined && this.options.hub.isConnectedHere(binding.gateway_uid);
  }

  /** Claims and advances one due schedule; starts its rotation when this process won the claim. */
  private async claim(row: ScheduleRow, now: number): Promise<boolean> {
    const { db, logger, workerId } = this.options;
    const due = Number(row.next_run_at);
    let next: number | null;
    try {
      next = nextRunAfter(rotationScheduleSchema.parse(JSON.parse(row.schedule)), Math.max(now, due));
    } catch (err) {
      await db.updateTable('rotation_schedules').set({ next_run_at: null }).where('record_uid', '=', row.record_uid).where('next_run_at', '=', due).execute();
      logger.error(
        { record: row.record_uid, code: err instanceof PosternError ? err.code : 'bad_request' },
        'rotation schedule is unusable and was switched off; set it again with `postern rotation set`',
      );
      return false;
    }

    const inserted = await db
      .insertInto('schedule_runs')
      .values({ record_uid: row.record_uid, due_at: due, fired_at: now, fired_by: workerId, outcome: 'claimed' })
      .onConflict((oc) => oc.columns(['record_uid', 'due_at']).doNothing())
      .executeTakeFirst();
    const won = Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
    const advanced = await db
      .updateTable('rotation_schedules')
      .set({ next_run_at: next })
      .where('record_uid', '=', row.record_uid)
      .where('next_run_at', '=', due)
      .executeTakeFirst();
    if (!won) {
      logger.debug({ record: row.record_uid, dueAt: due }, 'scheduled rotation already claimed');
      return false;
    }
    if (Number(advanced.numUpdatedRows) === 0) {
      // Another Head may have advanced it after seeing our claim (the run is still ours), or the
      // settings were changed or cleared since we read them (then this run is void).
      const current = await db.selectFrom('rotation_schedules').select('updated_at').where('record_uid', '=', row.record_uid).executeTakeFirst();
      if (!current || Number(current.updated_at) !== Number(row.updated_at)) {
        await this.setOutcome(row.record_uid, due, 'superseded');
        logger.info({ record: row.record_uid, dueAt: due }, 'scheduled rotation superseded by new settings');
        return false;
      }
    }

    logger.info({ record: row.record_uid, dueAt: due, nextRunAt: next, lateMs: now - due }, 'scheduled rotation due');
    const run = this.fire(row, due).finally(() => this.inflight.delete(run));
    this.inflight.add(run);
    return true;
  }

  private async fire(row: ScheduleRow, due: number): Promise<void> {
    const { db, hub, logger, now } = this.options;
    const env: ActionEnv = { db, hub, now };
    const base = {
      actorKind: 'system' as const,
      actor: 'schedule',
      ownerUid: row.owner_uid,
      action: 'action.rotate',
      recordUid: row.record_uid,
      clientIp: SCHEDULER_ADDRESS,
    };
    let outcome: string;
    try {
      let result: ActionOutcome;
      try {
        result = await this.fireAction(
          env,
          { userUid: row.owner_uid, label: 'schedule' },
          {
            action: 'rotate',
            recordUid: row.record_uid,
            configurationUid: row.configuration_uid,
            ...(row.resource_uid ? { resourceUid: row.resource_uid } : {}),
          },
        );
      } catch (err) {
        if (!(err instanceof PosternError)) throw err;
        outcome = err.code === 'not_allowed' ? 'denied' : err.code;
        const reason = err.details?.['policy'] ?? err.details?.['feature'] ?? null;
        await this.setOutcome(row.record_uid, due, outcome);
        await recordEvent(db, now(), {
          ...base,
          outcome: outcome === 'denied' ? 'denied' : 'failed',
          detail: { code: err.code, schedule: true, dueAt: due, ...(typeof reason === 'string' ? { reason } : {}) },
        });
        logger.warn(
          { record: row.record_uid, owner: row.owner_uid, dueAt: due, code: err.code },
          outcome === 'denied' ? 'scheduled rotation refused: the owner may no longer rotate this record' : 'scheduled rotation could not start',
        );
        return;
      }
      outcome = result.code === 'ok' ? 'ok' : result.code;
      await this.setOutcome(row.record_uid, due, outcome);
      await recordEvent(db, now(), {
        ...base,
        outcome: result.code === 'ok' ? 'ok' : 'failed',
        detail: { code: result.code, schedule: true, dueAt: due, gatewayUid: result.gatewayUid ?? null, jobUid: result.jobUid ?? null },
      });
      logger.info({ record: row.record_uid, dueAt: due, code: result.code, job: result.jobUid, gateway: result.gatewayUid }, 'scheduled rotation sent');
    } catch (err) {
      logger.error({ record: row.record_uid, dueAt: due, err: errorText(err) }, 'scheduled rotation failed');
      await this.setOutcome(row.record_uid, due, 'internal').catch(() => {});
      await recordEvent(db, now(), { ...base, outcome: 'failed', detail: { code: 'internal', schedule: true, dueAt: due } }).catch(() => {});
    }
  }

  private async setOutcome(recordUid: string, due: number, outcome: string): Promise<void> {
    await this.options.db.updateTable('schedule_runs').set({ outcome }).where('record_uid', '=', recordUid).where('due_at', '=', due).execute();
  }

  /** Stops ticking and waits for a tick in progress; rotations already sent keep running. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** Waits (briefly) for rotations already sent to report their outcome. */
  async drain(graceMs = DRAIN_GRACE_MS): Promise<void> {
    if (this.inflight.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inflight]), grace]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.drain();
  }
}

function errorText(err: unknown): string {
  if (err instanceof PosternError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** A pending tick must not keep Node or Deno alive on its own. */
function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer) (timer as { unref(): void }).unref();
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === 'number' && deno?.unrefTimer) deno.unrefTimer(timer);
}

/** Cloudflare Workers have no long-lived process: there the Head is to be a Durable Object alarm. */
function onCloudflareWorkers(): boolean {
  return (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === 'Cloudflare-Workers';
}

/**
 * Starts the scheduler when this process runs the Head role (`deps.head`, default on: the
 * embedded single-process Router is Head and Worker at once). Pure Workers pass `head: false`.
 */
export function startHead(
  deps: { db: Kysely<Database>; logger: Logger; head?: boolean | HeadOptions },
  services: { hub: GatewayHub; now: () => number },
): RotationScheduler | null {
  const option = deps.head ?? true;
  if (option === false) return null;
  if (deps.head === undefined && onCloudflareWorkers()) {
    deps.logger.debug({}, 'rotation scheduler not started on Cloudflare Workers');
    return null;
  }
  return new RotationScheduler({
    db: deps.db,
    hub: services.hub,
    logger: deps.logger,
    now: services.now,
    workerId: services.hub.workerId,
    ...(option === true ? {} : option),
  }).start();
}
