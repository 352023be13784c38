/**
 * Request/response over Node's child-process IPC channel, for the benchmark's three processes
 * (runner, measured Worker, simulated gateways). Every call has a deadline, so a stuck child
 * turns into an error in the runner instead of a hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';

interface Request {
  rid: number;
  cmd: string;
  args: unknown;
}

interface Response {
  rid: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

interface ChildEvent {
  event: string;
  data?: unknown;
}

/** The runner's handle on one child process. */
export class ChildPeer {
  private nextId = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  readonly events: ChildEvent[] = [];
  private eventWaiters: { name: string; resolve: (data: unknown) => void }[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (raw) => {
      const msg = raw as Partial<Response & ChildEvent>;
      if (typeof msg.event === 'string') {
        const waiter = this.eventWaiters.findIndex((w) => w.name === msg.event);
        if (waiter >= 0) this.eventWaiters.splice(waiter, 1)[0]!.resolve(msg.data);
        else this.events.push({ event: msg.event, data: msg.data });
        return;
      }
      const pending = typeof msg.rid === 'number' ? this.waiting.get(msg.rid) : undefined;
      if (!pending) return;
      this.waiting.delete(msg.rid!);
      clearTimeout(pending.timer);
      if (msg.ok) pending.resolve(msg.result);
      else pending.reject(new Error(`${name}: ${msg.error ?? 'failed'}`));
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        for (const [, pending] of this.waiting) {
          clearTimeout(pending.timer);
          pending.reject(new Error(`${name} exited (code ${code}, signal ${signal}) before answering`));
        }
        this.waiting.clear();
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  call<T>(cmd: string, args: unknown, timeoutMs: number): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`${this.name} is not running`));
    const rid = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(rid);
        reject(new Error(`${this.name}: "${cmd}" did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ rid, cmd, args } satisfies Request);
    });
  }

  /** Waits for an event the child sends on its own (e.g. "listening"). */
  waitEvent<T>(name: string, timeoutMs: number): Promise<T> {
    const seen = this.events.findIndex((e) => e.event === name);
    if (seen >= 0) return Promise.resolve(this.events.splice(seen, 1)[0]!.data as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no "${name}" within ${timeoutMs} ms`)), timeoutMs);
      this.eventWaiters.push({
        name,
        resolve: (data) => {
          clearTimeout(timer);
          resolve(data as T);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${code}) before "${name}"`));
      });
    });
  }

  /** Asks the child to stop, then kills it (by its pid, through the handle) if it lingers. */
  async stop(graceMs: number): Promise<void> {
    if (!this.alive) return;
    try {
      await this.call('stop', {}, graceMs);
    } catch {
      // fall through to the kill below
    }
    const exited = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
    if (!exited && this.alive) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2_000))]);
    }
  }
}

/** Starts `file` under tsx with IPC, inheriting stdout/stderr. */
export function spawnTsChild(name: string, file: string, args: string[], nodeFlags: string[], cwd: string): ChildPeer {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', file, ...args], {
    cwd,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env },
  });
  return new ChildPeer(name, child);
}

export type Handler = (args: never) => Promise<unknown> | unknown;

/** The child's side: answers the runner's commands; exits when the runner goes away. */
export function serveParent(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('This process must be started by test/bench/gateways/run.ts (it needs an IPC channel).');
  process.on('message', (raw) => {
    const msg = raw as Request;
    const handler = handlers[msg.cmd];
    const reply = (response: Omit<Response, 'rid'>) => process.send?.({ rid: msg.rid, ...response });
    if (!handler) {
      reply({ ok: false, error: `unknown command ${msg.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => (handler as (a: unknown) => unknown)(msg.args))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The runner died or closed the channel: nothing more will be asked, so leave.
  process.on('disconnect', () => process.exit(0));
}

export function emitToParent(event: string, data?: unknown): void {
  process.send?.({ event, data } satisfies ChildEvent);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
