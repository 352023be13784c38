/**
 * Long work on a gateway (a rotation, a discovery) is a job: created by the Router before the
 * action is sent, updated only by the gateway that runs it, read by the vault by polling.
 * The log lines and message of a job on a record arrive sealed to the record's readers
 * (core/protocol/job-log.ts): stored and served as they came, never opened here.
 */
import type { Kysely, Selectable } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { JobUpdate } from '../../core/protocol/gateway-wire.ts';
import type { JobEntry } from '../../core/protocol/vault-api.ts';
import type { Database, JobsTable } from '../../core/storage/schema.ts';

export type JobRow = Selectable<JobsTable>;

export type JobView = JobEntry;

export function toJobView(row: JobRow): JobView {
  return {
    jobUid: row.uid,
    gatewayUid: row.gateway_uid,
    action: row.action,
    recordUid: row.record_uid,
    status: row.status,
    progress: Number(row.progress),
    step: row.step,
    message: row.message,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export async function createJob(
  db: Kysely<Database>,
  job: { gatewayUid: string; ownerUid: string; action: string; recordUid: string | null; createdBy: string; now: number },
): Promise<string> {
  const uid = newUid();
  await db
    .insertInto('jobs')
    .values({
      uid,
      gateway_uid: job.gatewayUid,
      owner_uid: job.ownerUid,
      action: job.action,
      record_uid: job.recordUid,
      status: 'running',
      progress: 0,
      step: 'queued',
      message: null,
      created_by: job.createdBy,
      created_at: job.now,
      updated_at: job.now,
    })
    .execute();
  return uid;
}

/**
 * A job ends once: later updates for a finished, failed or cancelled job are ignored. An
 * interrupted job is not over: its gateway went away (or the Router did) while it ran, and the
 * gateway, which keeps running it and keeps its updates while offline, reports it when back.
 */
export async function applyJobUpdate(db: Kysely<Database>, gatewayUid: string, update: JobUpdate, now: number): Promise<void> {
  const job = await db.selectFrom('jobs').selectAll().where('uid', '=', update.jobUid).executeTakeFirst();
  if (!job || job.gateway_uid !== gatewayUid) throw new PosternError('not_allowed', `Job ${update.jobUid} does not belong to this gateway.`);
  if (job.status !== 'running' && job.status !== 'interrupted') return;
  await db
    .updateTable('jobs')
    .set({
      status: update.status,
      ...(update.progress !== undefined ? { progress: Math.round(update.progress) } : {}),
      ...(update.step !== undefined ? { step: update.step } : {}),
      ...(update.message !== undefined ? { message: update.message } : {}),
      updated_at: now,
    })
    .where('uid', '=', update.jobUid)
    .execute();
  if (update.log?.length) await appendJobLog(db, update.jobUid, update.log, now);
}

/** The gateway's connection ended: its running jobs are interrupted until it reports them again. */
export async function interruptJobsOf(db: Kysely<Database>, gatewayUid: string, now: number): Promise<number> {
  const result = await db
    .updateTable('jobs')
    .set({ status: 'interrupted', updated_at: now })
    .where('gateway_uid', '=', gatewayUid)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * At a Router process's start: the gateways whose sessions name this process (`workerId`) were
 * connected to it when it last stopped, by a crash or a kill that ran no cleanup. Their running
 * jobs are interrupted and their sessions forgotten; the gateways reconnect by themselves.
 */
export async function interruptJobsOfLostSessions(db: Kysely<Database>, workerId: string, now: number): Promise<{ gateways: number; jobs: number }> {
  const interrupted = await db
    .updateTable('jobs')
    .set({ status: 'interrupted', updated_at: now })
    .where('status', '=', 'running')
    .where('gateway_uid', 'in', (eb) => eb.selectFrom('gateway_sessions').select('gateway_uid').where('worker_id', '=', workerId))
    .executeTakeFirst();
  const forgotten = await db.deleteFrom('gateway_sessions').where('worker_id', '=', workerId).executeTakeFirst();
  return { gateways: Number(forgotten.numDeletedRows), jobs: Number(interrupted.numUpdatedRows) };
}

export async function appendJobLog(db: Kysely<Database>, jobUid: string, lines: string[], now: number): Promise<void> {
  const last = await db
    .selectFrom('job_logs')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('job_uid', '=', jobUid)
    .executeTakeFirst();
  let seq = Number(last?.seq ?? 0);
  await db
    .insertInto('job_logs')
    .values(lines.map((line) => ({ job_uid: jobUid, seq: ++seq, at: now, line })))
    .execute();
}

/** Ends a job from the Router's side (the gateway refused it, or never answered). */
export async function failJob(db: Kysely<Database>, jobUid: string, status: 'failed' | 'cancelled', message: string, now: number): Promise<void> {
  await db.updateTable('jobs').set({ status, message, updated_at: now }).where('uid', '=', jobUid).where('status', 'in', ['running', 'interrupted']).execute();
  await appendJobLog(db, jobUid, [message], now);
}

export async function jobLogs(db: Kysely<Database>, jobUid: string, afterSeq: number) {
  return db.selectFrom('job_logs').select(['seq', 'at', 'line']).where('job_uid', '=', jobUid).where('seq', '>', afterSeq).orderBy('seq').limit(1000).execute();
}
