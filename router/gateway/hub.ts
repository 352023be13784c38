/**
 * The gateways connected to this Worker, and delivery of actions to any gateway in the
 * cluster: directly when it is connected here, through the cluster bus to the Worker that
 * holds it otherwise (its Worker is recorded in gateway_sessions), `controller_down` when no
 * Worker holds it.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database } from '../../core/storage/schema.ts';
import { recordEvent } from '../audit/events.ts';
import { subjects, type BusStatus, type ClusterBus } from '../cluster/bus.ts';
import type { Logger } from '../../core/logger.ts';
import { applyJobUpdate, interruptJobsOf, interruptJobsOfLostSessions } from '../jobs/store.ts';
import { authenticateGateway } from './auth.ts';
import { GatewayConnection, type ActionResult, type SocketLike } from './connection.ts';

/**
 * A gateway's session row, on every connection: one statement, not a delete and an insert (each
 * commit is a disk write, and a Router restarting under 10,000 gateways does this 10,000 times),
 * and prepared (core/storage/prepared.ts).
 */
const upsertGatewaySession = prepareQuery<Database, { gatewayUid: string; workerId: string; address: string; version: string; at: number }>()((db, $) => {
  const session = { worker_id: $.workerId, address: $.address, version: $.version, connected_at: $.at, last_seen_at: $.at };
  return db
    .insertInto('gateway_sessions')
    .values({ gateway_uid: $.gatewayUid, ...session })
    .onConflict((oc) => oc.column('gateway_uid').doUpdateSet(session));
});

/** A gateway counts as online while its Worker refreshed it within this window. */
export const SESSION_FRESH_MS = 45_000;
const SESSION_REFRESH_MS = 15_000;

export interface HubOptions {
  db: Kysely<Database>;
  logger: Logger;
  workerId: string;
  bus: ClusterBus;
  now: () => number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
}

interface ForwardedAction {
  gatewayUid: string;
  action: string;
  params: Record<string, unknown>;
  timeoutMs: number;
}

export class GatewayHub {
  private connections = new Map<string, GatewayConnection>();
  private refresher: ReturnType<typeof setInterval>;
  private unserve: () => void;

  constructor(private readonly options: HubOptions) {
    this.refresher = setInterval(() => void this.refreshSessions(), SESSION_REFRESH_MS);
    (this.refresher as { unref?: () => void }).unref?.();
    this.unserve = options.bus.serve(subjects.workerAction(options.workerId), async (payload) => {
      const forwarded = payload as ForwardedAction;
      const conn = this.connections.get(forwarded.gatewayUid);
      if (!conn)
        return { code: 'wrong_instance', message: `Gateway ${forwarded.gatewayUid} is not connected to Worker ${options.workerId}.` } satisfies ActionResult;
      return conn.request(forwarded.action, forwarded.params, forwarded.timeoutMs);
    });
  }

  /** Whether this process can reach the other Router processes (always, embedded). */
  busStatus(): BusStatus {
    return this.options.bus.status?.() ?? { ok: true };
  }

  get workerId(): string {
    return this.options.workerId;
  }

  get size(): number {
    return this.connections.size;
  }

  isConnectedHere(gatewayUid: string): boolean {
    return this.connections.has(gatewayUid);
  }

  /** A new socket from a gateway; the adapter feeds it frames and tells it when it closes. */
  accept(socket: SocketLike, clientIp: string): GatewayConnection {
    const { db, logger, now } = this.options;
    const conn = new GatewayConnection(socket, clientIp, {
      logger,
      ...(this.options.heartbeatIntervalMs ? { heartbeatIntervalMs: this.options.heartbeatIntervalMs } : {}),
      ...(this.options.heartbeatTimeoutMs ? { heartbeatTimeoutMs: this.options.heartbeatTimeoutMs } : {}),
      authenticate: (frame, challenge) => authenticateGateway(db, frame, challenge, clientIp, now()),
      onReady: async (c) => {
        const previous = this.connections.get(c.gatewayUid);
        this.connections.set(c.gatewayUid, c);
        if (previous && previous !== c) previous.close(4002, 'superseded by a newer connection');
        const at = now();
        await upsertGatewaySession.execute(db, { gatewayUid: c.gatewayUid, workerId: this.options.workerId, address: clientIp, version: c.version, at });
        await recordEvent(db, at, {
          actorKind: 'device',
          actor: c.gatewayUid,
          ownerUid: c.gateway!.ownerUid,
          action: 'gateway.connect',
          clientIp,
          outcome: 'ok',
          detail: { version: c.version, worker: this.options.workerId },
        });
        logger.info({ gateway: c.gatewayUid, ip: clientIp, version: c.version }, 'gateway online');
      },
      onAuthFailed: async (error) => {
        logger.warn({ ip: clientIp, code: error.code }, 'gateway authentication refused');
        await recordEvent(db, now(), {
          actorKind: 'device',
          actor: 'unknown',
          ownerUid: null,
          action: 'gateway.connect',
          clientIp,
          outcome: 'denied',
          detail: { code: error.code },
        });
      },
      onJob: (c, job) => applyJobUpdate(db, c.gatewayUid, job, now()),
      onClosed: async (c) => {
        if (this.connections.get(c.gatewayUid) === c) {
          this.connections.delete(c.gatewayUid);
          await db.deleteFrom('gateway_sessions').where('gateway_uid', '=', c.gatewayUid).where('worker_id', '=', this.options.workerId).execute();
          await interruptJobsOf(db, c.gatewayUid, now());
          await recordEvent(db, now(), {
            actorKind: 'device',
            actor: c.gatewayUid,
            ownerUid: c.gateway!.ownerUid,
            action: 'gateway.disconnect',
            clientIp,
            outcome: 'ok',
          });
          logger.info({ gateway: c.gatewayUid }, 'gateway offline');
        }
      },
    });
    conn.open();
    return conn;
  }

  /** Close a gateway's connection if it is held here (e.g. after it was removed). */
  disconnect(gatewayUid: string, reason: string): void {
    this.connections.get(gatewayUid)?.close(4003, reason);
  }

  /**
   * Send an action to a gateway wherever in the cluster it is connected. Not async itself: a
   * gateway connected here (the common case) costs one promise, not two.
   */
  deliver(gatewayUid: string, action: string, params: Record<string, unknown>, timeoutMs: number): Promise<ActionResult> {
    const local = this.connections.get(gatewayUid);
    return local ? local.request(action, params, timeoutMs) : this.deliverElsewhere(gatewayUid, action, params, timeoutMs);
  }

  private async deliverElsewhere(gatewayUid: string, action: string, params: Record<string, unknown>, timeoutMs: number): Promise<ActionResult> {
    const session = await this.options.db.selectFrom('gateway_sessions').selectAll().where('gateway_uid', '=', gatewayUid).executeTakeFirst();
    const fresh = session && Number(session.last_seen_at) > this.options.now() - SESSION_FRESH_MS;
    if (!session || !fresh || session.worker_id === this.options.workerId) {
      return { code: 'controller_down', message: `Gateway ${gatewayUid} is not connected to the Router. Check that postern-gateway is running.` };
    }
    try {
      const forwarded: ForwardedAction = { gatewayUid, action, params, timeoutMs };
      return (await this.options.bus.request(subjects.workerAction(session.worker_id), forwarded, timeoutMs + 2_000)) as ActionResult;
    } catch (err) {
      const details = err instanceof PosternError ? err.details : undefined;
      if (details?.['timeout']) return { code: 'timeout', message: `Worker ${session.worker_id} did not answer in time.` };
      if (details?.['busDown'])
        return {
          code: 'controller_down',
          message: `Gateway ${gatewayUid} is connected to Worker ${session.worker_id}, which this Router process cannot reach: the cluster bus (NATS) is down. Retry once it is back.`,
        };
      return { code: 'controller_down', message: `Gateway ${gatewayUid} was on Worker ${session.worker_id}, which does not answer.` };
    }
  }

  private async refreshSessions(): Promise<void> {
    if (this.connections.size === 0) return;
    try {
      await this.options.db.updateTable('gateway_sessions').set({ last_seen_at: this.options.now() }).where('worker_id', '=', this.options.workerId).execute();
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, 'could not refresh gateway sessions');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.refresher);
    this.unserve();
    const held = [...this.connections.keys()];
    for (const conn of [...this.connections.values()]) conn.close(1001, 'router shutting down');
    const now = this.options.now();
    await Promise.all(held.map((uid) => interruptJobsOf(this.options.db, uid, now).catch(() => 0)));
    await this.options.db
      .deleteFrom('gateway_sessions')
      .where('worker_id', '=', this.options.workerId)
      .execute()
      .catch(() => {});
  }

  /**
   * Before accepting gateways: the sessions this process held when it last stopped without
   * cleaning up (SIGKILL, a crash, a power cut) are gone, and their running jobs interrupted.
   */
  async recoverLostSessions(): Promise<void> {
    const lost = await interruptJobsOfLostSessions(this.options.db, this.options.workerId, this.options.now());
    if (lost.gateways > 0)
      this.options.logger.warn(
        { gateways: lost.gateways, jobs: lost.jobs },
        'gateways were connected when this Router last stopped without cleaning up; their running jobs are interrupted until they report back',
      );
  }
}
