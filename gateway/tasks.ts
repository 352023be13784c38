/**
 * The jobs this gateway is running (a rotation, later a discovery), their progress, and their
 * reports to the Router. Every step, log line and message is scrubbed before it leaves the
 * process; updates that cannot be sent while the Router link is down are kept (in order) and
 * sent when it is back. A job ends once: finished, failed or cancelled.
 */
import { PosternError } from '../core/errors.ts';
import type { JobStatus, JobUpdate } from '../core/protocol/gateway-wire.ts';
import type { SecretScrubber } from './logging/scrubber.ts';

export interface JobSink {
  /** False when the update could not be sent now. */
  sendJob(update: JobUpdate): boolean;
}

export interface TaskLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  debug(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
}

export interface TaskView {
  jobId: string;
  action: string;
  recordUid: string | null;
  status: JobStatus;
  progress: number;
  step: string;
  message: string | null;
  startedAt: number;
  updatedAt: number;
  endedAt: number | null;
}

export interface TaskTrackerOptions {
  sink: JobSink;
  scrubber: SecretScrubber;
  logger: TaskLogger;
  /** Ended jobs remembered for `job-info` and the shell. */
  keepEnded?: number;
  /** Updates kept while the Router is unreachable. */
  maxUnsent?: number;
  now?: () => number;
}

// The wire limits of a job update (core/protocol/gateway-wire.ts jobUpdateSchema).
const STEP_MAX = 200;
const LINE_MAX = 4000;
const LINES_MAX = 200;
const MESSAGE_MAX = 2000;

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export class Task {
  private readonly controller = new AbortController();
  readonly view: TaskView;

  constructor(
    private readonly tracker: TaskTracker,
    view: TaskView,
  ) {
    this.view = view;
  }

  get jobId(): string {
    return this.view.jobId;
  }

  /** Aborted when the job is cancelled; pass it to anything that can stop early. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get ended(): boolean {
    return this.view.endedAt !== null;
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

  fail(message: string, log: string[] = []): void {
    if (this.ended) return;
    this.tracker.update(this, { status: 'failed', step: 'failed', message, log: [...log, message] });
  }

  /** @internal the tracker's side of cancel */
  abort(message: string, status: 'cancelled' | 'failed' = 'cancelled'): void {
    if (this.ended) return;
    this.controller.abort();
    this.tracker.update(this, { status, step: status, message, log: [message] });
  }
}

export class TaskTracker {
  private tasks = new Map<string, Task>();
  private unsent: JobUpdate[] = [];
  private dropped = 0;
  private readonly now: () => number;

  constructor(private readonly options: TaskTrackerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts tracking a job the Router created; a job id already known here is a `bad_state`. */
  start(jobId: string, action: string, recordUid: string | null = null): Task {
    if (this.tasks.has(jobId)) throw new PosternError('bad_state', `Job ${jobId} is already known to this gateway.`);
    const at = this.now();
    const task = new Task(this, { jobId, action, recordUid, status: 'running', progress: 0, step: 'started', message: null, startedAt: at, updatedAt: at, endedAt: null });
    this.tasks.set(jobId, task);
    this.options.logger.info({ jobId, action, recordUid }, 'job started');
    this.update(task, { status: 'running', step: 'started', progress: 0, log: [`${action} started on the gateway`] });
    return task;
  }

  get(jobId: string): TaskView | undefined {
    const task = this.tasks.get(jobId);
    return task ? { ...task.view } : undefined;
  }

  running(): TaskView[] {
    return [...this.tasks.values()].filter((t) => !t.ended).map((t) => ({ ...t.view }));
  }

  all(): TaskView[] {
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
  cancel(jobId: string, message = 'Cancelled on request.'): boolean {
    const task = this.tasks.get(jobId);
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

  /** @internal Applies an update to a task and reports it. */
  update(task: Task, change: { status: JobStatus; step?: string; progress?: number; message?: string; log?: string[] }): void {
    const { scrubber } = this.options;
    const view = task.view;
    const at = this.now();
    view.status = change.status;
    view.updatedAt = at;
    if (change.step !== undefined) view.step = clip(scrubber.scrub(change.step), STEP_MAX);
    if (change.progress !== undefined) view.progress = Math.max(0, Math.min(100, Math.round(change.progress)));
    if (change.message !== undefined) view.message = clip(scrubber.scrub(change.message), MESSAGE_MAX);
    if (change.status !== 'running') view.endedAt = at;
    const log = (change.log ?? []).slice(-LINES_MAX).map((line) => clip(scrubber.scrub(line), LINE_MAX));
    const update: JobUpdate = {
      jobId: view.jobId,
      status: view.status,
      progress: view.progress,
      step: view.step,
      ...(view.message !== null && change.message !== undefined ? { message: view.message } : {}),
      ...(log.length ? { log } : {}),
    };
    if (change.status === 'running') this.options.logger.debug({ jobId: view.jobId, step: view.step, progress: view.progress }, 'job progress');
    else this.options.logger.info({ jobId: view.jobId, status: view.status, message: view.message }, 'job ended');
    this.report(update);
    if (view.endedAt !== null) this.forgetOldEnded();
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
    for (const t of ended.slice(0, Math.max(0, ended.length - keep))) this.tasks.delete(t.jobId);
  }
}
