/**
 * `postern job show | list | cancel`: long work on a gateway (a rotation, a discovery). A job is
 * followed by polling the Router, which the gateway keeps informed; `postern rotate` uses the
 * same follower. A job on a record has its log lines and message sealed to the record's readers:
 * they are opened here (core/vault-client/job-log.ts), never on the Router.
 */
import { Option, type Command } from 'commander';
import type { ActionOutcome, JobEntry } from '../../../core/protocol/vault-api.ts';
import type { VaultClient } from '../../../core/vault-client/index.ts';
import { JobLogReader, type ReadJobLogLine } from '../../../core/vault-client/job-log.ts';
import { contextOf, type CliContext } from '../context.ts';
import { integerIn, uidOf } from '../flags.ts';
import { CliError, isoTime, relativeTime, whenText, type CliIo } from '../output.ts';
import { withVault } from '../session.ts';

export const jobUid = uidOf('job UID (see `postern job list`)');

export type JobLogLine = ReadJobLogLine;

export interface FollowedJob {
  job: JobEntry;
  logs: JobLogLine[];
}

/** A job and its lines from `afterSeq` on, opened for this user. */
async function readJob(
  vault: VaultClient,
  reader: JobLogReader | null,
  uid: string,
  afterSeq: number,
): Promise<{ job: JobEntry; logs: JobLogLine[]; reader: JobLogReader }> {
  const state = await vault.getJob(uid, afterSeq);
  const r = reader ?? new JobLogReader(vault, uid, state.job.recordUid);
  return { job: await r.job(state.job), logs: await r.lines(state.logs), reader: r };
}

export interface FollowOptions {
  /** How often to ask the Router (ms). */
  intervalMs?: number;
  /** Give up watching after this long (ms); the job itself goes on. */
  timeoutMs: number;
  /** Log lines already printed (job show prints them before following). */
  afterSeq?: number;
}

const POLL_MS = 500;
/** Consecutive failed polls (the Router restarting, a network blip) tolerated before giving up. */
const MAX_POLL_FAILURES = 5;

function percent(progress: number): string {
  return `[${String(Math.max(0, Math.min(100, Math.round(progress)))).padStart(3)}%]`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Prints progress while the job runs (human output only) and returns it once it has ended. */
export async function followJob(ctx: CliContext, vault: VaultClient, uid: string, options: FollowOptions): Promise<FollowedJob> {
  const started = Date.now();
  const logs: JobLogLine[] = [];
  let afterSeq = options.afterSeq ?? 0;
  let shown: string | null = null;
  let failures = 0;
  let reader: JobLogReader | null = null;
  let interruptedShown = false;
  for (;;) {
    let state: { job: JobEntry; logs: JobLogLine[]; reader: JobLogReader };
    try {
      state = await readJob(vault, reader, uid, afterSeq);
      reader = state.reader;
      failures = 0;
    } catch (err) {
      if (++failures >= MAX_POLL_FAILURES || (err as { code?: string }).code === 'not_allowed') throw err;
      if (!ctx.out.json) ctx.out.warn(`Could not read job ${uid} (${(err as Error).message}); retrying.`);
      await sleep(options.intervalMs ?? POLL_MS);
      continue;
    }
    const { job } = state;
    const stepKey = job.step === null ? null : `${job.progress}|${job.step}`;
    const printLines = !ctx.out.json;
    if (stepKey !== null && stepKey !== shown) {
      shown = stepKey;
      if (printLines) ctx.out.line(`${percent(job.progress)} ${job.step}`);
    }
    for (const l of state.logs) {
      logs.push(l);
      afterSeq = Math.max(afterSeq, l.seq);
      // A gateway often logs the step it just announced; say it once.
      if (printLines && l.line !== job.step) ctx.out.line(`${percent(job.progress)} ${l.line}`);
    }
    // The Router returns at most 1000 lines per call: drain before deciding the job has ended.
    if (state.logs.length >= 1000) continue;
    // Interrupted is not an end: the gateway (or the Router) went away while the job ran, and the
    // gateway reports it when it is back. Say so once and keep watching.
    if (job.status === 'interrupted' && !interruptedShown) {
      interruptedShown = true;
      if (printLines)
        ctx.out.line(`${percent(job.progress)} interrupted: the gateway lost its connection to the Router while this ran; waiting for it to report back`);
    }
    if (job.status === 'running') interruptedShown = false;
    if (job.status !== 'running' && job.status !== 'interrupted') return { job, logs };
    if (Date.now() - started > options.timeoutMs) {
      throw new CliError(
        'timeout',
        `Job ${uid} is still running after ${Math.round(options.timeoutMs / 1000)} s (at ${job.progress}%${job.step ? `, ${job.step}` : ''}). ` +
          `It goes on without you: follow it with \`postern job show ${uid} --follow\`, or stop it with \`postern job cancel ${uid}\`.`,
        { jobUid: uid, status: job.status },
      );
    }
    await sleep(options.intervalMs ?? POLL_MS);
  }
}

export function jobJson(job: JobEntry) {
  return {
    jobUid: job.jobUid,
    action: job.action,
    status: job.status,
    progress: job.progress,
    step: job.step,
    message: job.message,
    recordUid: job.recordUid,
    gatewayUid: job.gatewayUid,
    createdBy: job.createdBy,
    createdAt: isoTime(job.createdAt),
    updatedAt: isoTime(job.updatedAt),
  };
}

export function logsJson(logs: JobLogLine[]) {
  return logs.map((l) => ({ seq: l.seq, at: isoTime(l.at), line: l.line, sealed: l.sealed }));
}

/**
 * The end of a followed job: its result as JSON, or a closing line; a job that failed or was
 * cancelled is an error (exit 1) carrying the job's message.
 */
export function finishJob(ctx: CliContext, followed: FollowedJob, label = 'Job'): void {
  const { job } = followed;
  ctx.out.result({ job: jobJson(job), logs: logsJson(followed.logs) }, () => {
    if (job.status === 'finished') ctx.out.line(`${label} finished${job.message ? `: ${job.message}` : '.'}`);
  });
  if (job.status === 'finished') return;
  const what = job.status === 'cancelled' ? 'was cancelled' : 'failed';
  throw new CliError(
    `job_${job.status}`,
    `${label} ${job.jobUid} ${what}${job.message ? `: ${job.message}` : ''}${/[.!?]$/.test(job.message ?? '') ? '' : '.'}`,
    {
      jobUid: job.jobUid,
      status: job.status,
    },
  );
}

/** A non-`ok` answer to an action, as an error the user can act on. */
export function actionFailure(outcome: ActionOutcome, what: string): CliError {
  const hints: Partial<Record<ActionOutcome['code'], string>> = {
    controller_down: 'The gateway is not connected to the Router. Check it with `postern gateway list`, and on its host `postern-gateway start`.',
    timeout: 'The gateway did not answer in time; it may be overloaded or its connection half-open. Try again, or check `postern gateway info`.',
    wrong_instance: 'The gateway is connected to another Router process that could not be reached; try again.',
    bad_state: 'The gateway could not do this now.',
  };
  const message = [`${what}: ${outcome.message ?? outcome.code}`.replace(/\.?$/, '.'), hints[outcome.code]].filter(Boolean).join(' ');
  return new CliError(outcome.code, message, {
    ...(outcome.gatewayUid ? { gatewayUid: outcome.gatewayUid } : {}),
    ...(outcome.jobUid ? { jobUid: outcome.jobUid } : {}),
  });
}

export const followTimeoutOption = () =>
  new Option('--timeout <seconds>', 'stop watching after this many seconds (the job goes on)').default(900).argParser(integerIn(1, 86_400));

function statusText(job: JobEntry): string {
  if (job.status === 'running') return `running (${job.progress}%)`;
  if (job.status === 'interrupted') return `interrupted at ${job.progress}% (the gateway went offline; it reports the outcome when back)`;
  return job.status;
}

export function registerJobCommands(program: Command, io: CliIo): void {
  const job = program.command('job').description('Long work on a gateway (rotations, discovery): watch it, list it, cancel it.');

  job
    .command('show')
    .description(
      'Show a job: its status, progress, current step, final message and log lines. With --follow, keep printing ' +
        'progress until it ends; the exit code is then 0 if it finished and 1 if it failed or was cancelled.',
    )
    .argument('<job>', 'job UID (printed by `postern rotate`; see `postern job list`)', jobUid)
    .option('--follow', 'keep watching until the job ends')
    .addOption(followTimeoutOption())
    .addHelpText(
      'after',
      `
Examples:
  $ postern job show 5mQ0bC2yTQm8n0cXv1dWgA
  $ postern job show 5mQ0bC2yTQm8n0cXv1dWgA --follow`,
    )
    .action(async (uid: string, options: { follow?: boolean; timeout: number }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        if (options.follow) {
          const followed = await followJob(ctx, vault, uid, { timeoutMs: options.timeout * 1000 });
          finishJob(ctx, followed);
          return;
        }
        const { job: entry, logs } = await readJob(vault, null, uid, 0);
        ctx.out.result({ job: jobJson(entry), logs: logsJson(logs) }, () => {
          ctx.out.pairs([
            ['Job', entry.jobUid],
            ['Action', entry.action],
            ['Status', entry.status],
            ['Progress', `${entry.progress}%`],
            ['Step', entry.step ?? ''],
            ['Message', entry.message ?? ''],
            ['Record', entry.recordUid ?? ''],
            ['Gateway', entry.gatewayUid],
            ['Started by', entry.createdBy],
            ['Started', whenText(entry.createdAt)],
            ['Updated', whenText(entry.updatedAt)],
          ]);
          ctx.out.line();
          if (logs.length === 0) ctx.out.line('No log lines.');
          else {
            ctx.out.line('Log:');
            for (const l of logs) ctx.out.line(`  ${isoTime(l.at)}  ${l.line}`);
          }
        });
      });
    });

  job
    .command('list')
    .description('List the jobs you started (newest first).')
    .addOption(new Option('--limit <n>', 'how many, 1 to 500').default(50).argParser(integerIn(1, 500)))
    .addHelpText('after', '\nExample:\n  $ postern job list --limit 10')
    .action(async (options: { limit: number }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const jobs: JobEntry[] = [];
        // One at a time: each record key not known yet costs a request.
        for (const j of await vault.listJobs(options.limit)) jobs.push(await new JobLogReader(vault, j.jobUid, j.recordUid).job(j));
        const now = Date.now();
        ctx.out.result({ jobs: jobs.map(jobJson) }, () =>
          ctx.out.table(
            ['JOB UID', 'ACTION', 'STATUS', 'STEP', 'RECORD', 'STARTED', 'BY'],
            jobs.map((j) => [j.jobUid, j.action, statusText(j), j.step, j.recordUid, relativeTime(j.createdAt, now), j.createdBy]),
            'No jobs yet. `postern rotate RECORD` starts one.',
          ),
        );
      });
    });

  job
    .command('cancel')
    .description('Ask the gateway running a job to stop it. The job ends as "cancelled" once the gateway has stopped it.')
    .argument('<job>', 'job UID', jobUid)
    .addHelpText('after', '\nExample:\n  $ postern job cancel 5mQ0bC2yTQm8n0cXv1dWgA')
    .action(async (uid: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const outcome = await vault.action('job-cancel', { jobUid: uid });
        if (outcome.code !== 'ok') throw actionFailure(outcome, `Cancelling job ${uid} failed`);
        ctx.out.result({ jobUid: uid, gatewayUid: outcome.gatewayUid ?? null, cancelRequested: true, data: outcome.data ?? null }, () =>
          ctx.out.line(`Asked the gateway to cancel job ${uid}. Watch it end with \`postern job show ${uid} --follow\`.`),
        );
      });
    });
}
