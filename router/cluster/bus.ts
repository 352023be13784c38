/**
 * The messages between Router processes (Head and Workers). One interface, two carriers:
 * in-process for the embedded single-process Router, NATS for scale-out
 * (router/adapters/node/nats-bus.ts).
 */
import { PosternError } from '../../core/errors.ts';

export interface ClusterBus {
  /** Ask whoever serves `subject`; `controller_down` when nobody does, `timeout` when too slow. */
  request(subject: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  serve(subject: string, handler: (payload: unknown) => Promise<unknown>): () => void;
  /** Resolves once every serve() so far is visible to the other processes (network carriers). */
  flush?(): Promise<void>;
  /** Whether the carrier is connected (network carriers), for /healthz. */
  status?(): BusStatus;
  close(): Promise<void>;
}

export interface BusStatus {
  ok: boolean;
  /** When the connection was lost, while it is. */
  downSince?: number;
}

export const subjects = {
  workerAction: (workerId: string) => `postern.worker.${workerId}.action`,
} as const;

export class LocalBus implements ClusterBus {
  private handlers = new Map<string, (payload: unknown) => Promise<unknown>>();

  async request(subject: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const handler = this.handlers.get(subject);
    if (!handler) throw new PosternError('internal', `No Router process serves ${subject}.`, { noResponders: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PosternError('internal', `${subject} did not answer within ${timeoutMs} ms.`, { timeout: true })), timeoutMs);
    });
    try {
      // Round-trip through JSON so local delivery behaves like the network one.
      return JSON.parse(JSON.stringify(await Promise.race([handler(JSON.parse(JSON.stringify(payload))), timeout])));
    } finally {
      clearTimeout(timer);
    }
  }

  serve(subject: string, handler: (payload: unknown) => Promise<unknown>): () => void {
    this.handlers.set(subject, handler);
    return () => this.handlers.delete(subject);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
