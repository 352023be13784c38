/**
 * The cluster bus over an existing NATS broker, for scale-out on Node: the Head and the
 * Workers each hold one connection; a Worker serves `postern.worker.<id>.action` and any
 * Router process asks it by request/reply. Payloads are JSON. Failures keep LocalBus's
 * contract, which GatewayHub.deliver maps for the vault: nobody serves the subject →
 * PosternError details.noResponders (`controller_down`), too slow → details.timeout
 * (`timeout`), broker unusable → details.unavailable (`controller_down`).
 */
import { connect, ErrorCode, type Msg, type NatsConnection, type NatsError, type Subscription } from 'nats';
import { isErrorCode, PosternError } from '../../../core/errors.ts';
import type { BusStatus, ClusterBus } from '../../cluster/bus.ts';
import type { Logger } from '../../../core/logger.ts';

/** What a serving process answers: a result, or the error its handler threw. */
type Reply = { ok: unknown } | { error: { code: string; message: string; details?: Record<string, unknown> } };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value ?? null));
}

function decode(data: Uint8Array): unknown {
  return data.length === 0 ? null : JSON.parse(decoder.decode(data));
}

/** A NATS URL as it may be shown: any user/password replaced. */
export function redactNatsUrl(value: string): string {
  return value
    .split(',')
    .map((part) => part.trim().replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@'))
    .join(',');
}

export interface NatsBusOptions {
  /** One URL or several comma-separated (`nats://a:4222,nats://b:4222`). */
  url: string;
  /** Shown by the broker's monitoring (`connz`), e.g. `postern-worker-<id>`. */
  name?: string;
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** How long to wait for the broker at startup (default 5 s). */
  connectTimeoutMs?: number;
}

export class NatsBus implements ClusterBus {
  private readonly subscriptions = new Set<Subscription>();
  private closing: Promise<void> | null = null;
  /** When the connection to the broker was lost, while it is; null while connected. */
  private disconnectedSince: number | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Pick<Logger, 'info' | 'warn'> | undefined,
  ) {}

  /** Connect to the broker; fails with a readable `PosternError` when it cannot be reached. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const servers = options.url
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        ...(options.name ? { name: options.name } : {}),
        timeout: options.connectTimeoutMs ?? 5_000,
        // Once connected, ride out broker restarts: keep retrying, and keep the subscriptions.
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
      });
    } catch (err) {
      const code = (err as NatsError).code ?? String(err);
      throw new PosternError('bad_state', `Cannot connect to NATS at ${redactNatsUrl(options.url)} (${code}). Is nats-server running there?`, { nats: code });
    }
    const bus = new NatsBus(nc, options.logger);
    void bus.watchStatus();
    return bus;
  }

  /** The broker this connection currently uses. */
  get server(): string {
    return this.nc.getServer();
  }

  status(): BusStatus {
    return this.disconnectedSince === null ? { ok: true } : { ok: false, downSince: this.disconnectedSince };
  }

  async request(subject: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    // While reconnecting, nats.js would hold the request until its timeout (an action's, up to
    // minutes): answer at once instead, so the vault hears why.
    if (this.disconnectedSince !== null) {
      throw new PosternError('internal', `The cluster bus (NATS) is disconnected and reconnecting; ${subject} cannot be reached until it is back.`, {
        unavailable: true,
        busDown: true,
      });
    }
    let msg: Msg;
    try {
      msg = await this.nc.request(subject, encode(payload), { timeout: Math.max(1, Math.round(timeoutMs)) });
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === ErrorCode.NoResponders) throw new PosternError('internal', `No Router process serves ${subject}.`, { noResponders: true });
      if (code === ErrorCode.Timeout) throw new PosternError('internal', `${subject} did not answer within ${timeoutMs} ms.`, { timeout: true });
      throw new PosternError('internal', `The cluster bus could not deliver to ${subject} (${code ?? String(err)}).`, { unavailable: true });
    }
    let reply: Reply;
    try {
      reply = decode(msg.data) as Reply;
    } catch {
      throw new PosternError('internal', `${subject} answered something that is not JSON.`);
    }
    if (reply && typeof reply === 'object' && 'error' in reply) {
      const { code, message, details } = reply.error;
      throw new PosternError(isErrorCode(code) ? code : 'internal', message, details);
    }
    return (reply as { ok: unknown } | null)?.ok;
  }

  serve(subject: string, handler: (payload: unknown) => Promise<unknown>): () => void {
    // A queue group: should two processes ever share an id, one of them answers, not both.
    const sub = this.nc.subscribe(subject, {
      queue: 'postern',
      callback: (err, msg) => {
        if (err) {
          this.logger?.warn({ subject, err: err.message }, 'cluster bus subscription failed');
          return;
        }
        void this.answer(msg, handler);
      },
    });
    this.subscriptions.add(sub);
    return () => {
      this.subscriptions.delete(sub);
      if (!sub.isClosed()) {
        try {
          sub.unsubscribe();
        } catch {
          // the connection is closing; the subscription goes with it
        }
      }
    };
  }

  private async answer(msg: Msg, handler: (payload: unknown) => Promise<unknown>): Promise<void> {
    let reply: Reply;
    try {
      reply = { ok: await handler(decode(msg.data)) };
    } catch (err) {
      reply =
        err instanceof PosternError
          ? { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }
          : { error: { code: 'internal', message: 'The Router process serving this request failed.' } };
      if (!(err instanceof PosternError)) this.logger?.warn({ subject: msg.subject, err: String(err) }, 'cluster bus handler failed');
    }
    if (!msg.reply || this.nc.isClosed()) return;
    try {
      msg.respond(encode(reply));
    } catch (err) {
      this.logger?.warn({ subject: msg.subject, err: String(err) }, 'could not answer on the cluster bus');
    }
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.subscriptions.clear();
      if (this.nc.isClosed()) return;
      try {
        // Stop taking requests, finish the ones being answered, then close.
        await this.nc.drain();
      } catch {
        await this.nc.close().catch(() => {});
      }
    })();
    return this.closing;
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.disconnectedSince ??= Date.now();
        this.logger?.warn({ server: String(status.data) }, 'cluster bus disconnected from NATS; reconnecting');
      } else if (status.type === 'reconnect') {
        this.disconnectedSince = null;
        this.logger?.info({ server: String(status.data) }, 'cluster bus reconnected to NATS');
      }
    }
  }
}
