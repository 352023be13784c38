/**
 * The jobs this gateway is running (a rotation, later a discovery), their progress, and their
 * reports to the Router. Every step, log line and message is scrubbed before it leaves the
 * process; updates that cannot be sent while the Router link is down are kept (in order) and
 * sent when it is back. A job ends once: finished, failed or cancelled.
 *
 * A job on a record is sealed to that record's readers once it holds the record key
 * (`sealWith`): from then on every log line and the final message leave the process as
 * ciphertext (core/protocol/job-log.ts), and the Router sees only status, progress, step names
 * and a failure's code. Callers keep hosts, logins and script output out of step names, and out
 * of anything they report before `sealWith` (job and record UIDs only).
 */
import { PosternError } from '../core/errors.ts';
import type { JobStatus, JobUpdate } from '../core/protocol/gateway-wire.ts';
import { JOB_LINE_MAX, JOB_MESSAGE_MAX, JOB_STEP_MAX, jobLogKey, sealJobLine, sealJobMessage } from '../core/protocol/job-log.ts';
import type { SecretScrubber } from './logging/scrubber.ts';
import type { Logger } from '../core/logger.ts';

export interface JobSink {
  /** False when the update could not be sent now. */
  sendJob(update: JobUpdate): boolean;
}

export interface JobView {
  jobUid: string;
  action: string;
  recordUid: string | null;
  status: JobStatus;
  progress: number;
  step: string;
  /** In plaintext here (the gateway's own shell and log); `JobTracker.get` gives it as the Router has it. */
  message: string | null;
  /** The failure code of a failed job. */
  code: string | null;
  /** Whether log lines and the message are sealed to the record's readers. */
  sealed: boolean;
  startedAt: number;
  updatedAt: number;
  endedAt: number | null;
}

export interface JobTrackerOptions {
  sink: JobSink;
  scrubber: SecretScrubber;
  logger: Logger;
  /** Ended jobs remembered for `job-info` and the shell. */
  keepEnded?: number;
  /** Updates kept while the Router is unreachable. */
  maxUnsent?: number;
  now?: () => number;
}

// The plaintext limits of a job update (core/protocol/job-log.ts), clipped before sealing.
const STEP_MAX = JOB_STEP_MAX;
const LINE_MAX = JOB_LINE_MAX;
const LINES_MAX = 200;
const MESSAGE_MAX = JOB_MESSAGE_MAX;

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export class Job {
  private readonly controller = new AbortController();
  readonly view: JobView;
  /** @internal the key lines and the message are sealed with, and the number of the last sealed line */
  seal: { key: Uint8Array; n: number } | null = null;
  /** @internal the message as the Router has it */
  routerMessage: string | null = null;

  constructor(
    private readonly tracker: JobTracker,
    view: JobView,
  ) {
    this.view = view;
  }

  get jobUid(): string {
    return this.view.jobUid;
  }

  /** Aborted when the job is cancelled; pass it to anything that can stop early. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get ended(): boolean {
    return this.view.endedAt !== null;
  }

  /**
   * Seals everything reported from now on to the readers of the job's record, with a key derived
   * from `recordKey` (that record's key) and the job UID. Once only: the key cannot change.
   */
  sealWith(recordKey: Uint8Array): void {
    if (this.seal) return;
    if (this.view.recordUid === null)
      throw new PosternError('bad_state', `Job ${this.jobUid} is about no record, so there is no record key to seal its log to.`);
    this.seal = { key: jobLogKey(recordKey, this.jobUid), n: 0 };
    this.view.sealed = true;
  }

  /** Throws a `bad_state` error when the job was cancelled, for checks between steps. */
  throwIfCancelled(): void {
    if (this.signal.aborted) throw new PosternError('bad_state', 'The job was cancelled.');
  }

  step(step: string, progress: number, log: string[] = []): void {
    if (this.ended) return;
    this.tracker.update(this, { status: 'running', step, progress, log });
  }

  log(...lines: string[]): void {
    if (this.ended) return;
    this.tracker.update(this, { status: 'running', log: lines });
  }

  finish(message?: string, log: string[] = []): void {
    if (this.ended) return;
    this.tracker.update(this, { status: 'finished', progress: 100, step: 'done', ...(message !== undefined ? { message } : {}), log });
  }

  /** Ends the job failed; `code` (e.g. `admin_refused`) stays readable by the Router, the message does not once sealed. */
  fail(message: string, log: string[] = [], code?: string): void {
    if (this.ended) return;
    this.tracker.update(this, { status: 'failed', step: 'failed', message, ...(code ? { code } : {}), log: [...log, code ? `${code}: ${message}` : message] });
  }

  /** @internal the tracker's side of cancel */
  abort(message: string, status: 'cancelled' | 'failed' = 'cancelled'): void {
    if (this.ended) return;
    this.controller.abort();
    this.tracker.update(this, { status, step: status, message, log: [message] });
  }
}

export class JobTracker {
  private tasks = new Map<string, Job>();
  private reporting: Promise<void> = Promise.resolve();
  private unsent: JobUpdate[] = [];
  private dropped = 0;
  private readonly now: () => number;

  constructor(private readonly options: JobTrackerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts tracking a job the Router created; a job id already known here is a `bad_state`. */
  start(jobUid: string, action: string, recordUid: string | null = null): Job {
    if (this.tasks.has(jobUid)) throw new PosternError('bad_state', `Job ${jobUid} is already known to this gateway.`);
    const at = this.now();
    const task = new Job(this, {
      jobUid,
      action,
      recordUid,
      status: 'running',
      progress: 0,
      step: 'started',
      message: null,
      code: null,
      sealed: false,
      startedAt: at,
      updatedAt: at,
      endedAt: null,
    });
    this.tasks.set(jobUid, task);
    this.options.logger.info({ jobUid, action, recordUid }, 'job started');
    this.update(task, { status: 'running', step: 'started', progress: 0, log: [`${action} started on the gateway`] });
    return task;
  }

  /** A job as the Router may see it (`job-info`): its message sealed when the job is. */
  get(jobUid: string): JobView | undefined {
    const task = this.tasks.get(jobUid);
    return task ? { ...task.view, message: task.routerMessage } : undefined;
  }

  running(): JobView[] {
    return [...this.tasks.values()].filter((t) => !t.ended).map((t) => ({ ...t.view }));
  }

  all(): JobView[] {
    return [...this.tasks.values()].map((t) => ({ ...t.view }));
  }

  get runningCount(): number {
    let n = 0;
    for (const t of this.tasks.values()) if (!t.ended) n++;
    return n;
  }

  /** Updates waiting for the Router link. */
  get pendingUpdates(): number {
    return this.unsent.length;
  }

  /** Cancels a running job; false when it is unknown or already ended. */
  cancel(jobUid: string, message = 'Cancelled on request.'): boolean {
    const task = this.tasks.get(jobUid);
    if (!task || task.ended) return false;
    task.abort(message);
    return true;
  }

  /** On shutdown: every running job is stopped and reported failed, so nobody waits for it. */
  abortAll(message: string): void {
    for (const task of this.tasks.values()) if (!task.ended) task.abort(message, 'failed');
  }

  /** Sends the updates kept while the link was down, oldest first. */
  flush(): void {
    if (this.dropped) {
      this.options.logger.warn({ dropped: this.dropped }, 'job updates were dropped while the Router was unreachable');
      this.dropped = 0;
    }
    while (this.unsent.length > 0) {
      if (!this.options.sink.sendJob(this.unsent[0]!)) return;
      this.unsent.shift();
    }
  }

  /**
   * @internal Applies an update to a task and reports it. The task's own view changes at once;
   * what goes to the Router is sealed first (asynchronously), through one chain so that updates
   * reach the Router in the order they were made.
   */
  update(task: Job, change: { status: JobStatus; step?: string; progress?: number; message?: string; code?: string; log?: string[] }): void {
    const { scrubber } = this.options;
    const view = task.view;
    const at = this.now();
    view.status = change.status;
    view.updatedAt = at;
    if (change.step !== undefined) view.step = clip(scrubber.scrub(change.step), STEP_MAX);
    if (change.progress !== undefined) view.progress = Math.max(0, Math.min(100, Math.round(change.progress)));
    if (change.code !== undefined) view.code = change.code;
    let text: string | null = null;
    if (change.message !== undefined) {
      text = clip(scrubber.scrub(change.message), MESSAGE_MAX);
      view.message = change.code ? `${change.code}: ${text}` : text;
    }
    if (change.status !== 'running') view.endedAt = at;
    const seal = task.seal;
    const lines = (change.log ?? []).slice(-LINES_MAX).map((line) => clip(scrubber.scrub(line), LINE_MAX));
    // Line numbers are taken now, in call order, whatever order the sealing finishes in.
    const firstLine = seal ? seal.n + 1 : 0;
    if (seal) seal.n += lines.length;
    if (text !== null && !seal) task.routerMessage = view.message;
    const snapshot = {
      jobUid: view.jobUid,
      status: view.status,
      progress: view.progress,
      step: view.step,
      message: text !== null && !seal ? view.message : null,
    };
    const sealing = this.reporting.then(async () => {
      const message = text !== null && seal ? await sealJobMessage(seal.key, snapshot.jobUid, text, change.code ?? null) : snapshot.message;
      if (text !== null && seal) task.routerMessage = message;
      const log = seal ? await Promise.all(lines.map((line, i) => sealJobLine(seal.key, snapshot.jobUid, firstLine + i, line))) : lines;
      const update: JobUpdate = {
        jobUid: snapshot.jobUid,
        status: snapshot.status,
        progress: snapshot.progress,
        step: snapshot.step,
        ...(message !== null ? { message } : {}),
        ...(log.length ? { log } : {}),
      };
      this.report(update);
    });
    this.reporting = sealing.catch((err: unknown) => {
      this.options.logger.warn(
        { jobUid: snapshot.jobUid, err: err instanceof Error ? err.message : String(err) },
        'a job update could not be sealed; it was not sent',
      );
    });
    if (change.status === 'running') this.options.logger.debug({ jobUid: view.jobUid, step: view.step, progress: view.progress }, 'job progress');
    else this.options.logger.info({ jobUid: view.jobUid, status: view.status, message: view.message }, 'job ended');
    if (view.endedAt !== null) this.forgetOldEnded();
  }

  /** Resolves once every update made so far has been sealed and handed to the Router link (or queued for it). */
  settled(): Promise<void> {
    return this.reporting;
  }

  private report(update: JobUpdate): void {
    if (this.unsent.length === 0 && this.options.sink.sendJob(update)) return;
    this.unsent.push(update);
    const max = this.options.maxUnsent ?? 1000;
    if (this.unsent.length > max) {
      // Keep the newest; a job's final state is what matters most.
      this.unsent.splice(0, this.unsent.length - max);
      this.dropped++;
    }
  }

  private forgetOldEnded(): void {
    const keep = this.options.keepEnded ?? 100;
    const ended = [...this.tasks.values()].filter((t) => t.ended);
    for (const t of ended.slice(0, Math.max(0, ended.length - keep))) this.tasks.delete(t.jobUid);
  }
}
