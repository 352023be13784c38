/**
 * One gateway's WebSocket as the Router sees it: challenge → auth → ready, heartbeats both
 * ways, conversations (action → result) with timeouts, and job updates. Transport-neutral:
 * it is handed a `send`/`close` pair by whichever runtime adapter holds the socket.
 */
import { randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import {
  decodeGatewayFrame,
  encodeFrame,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  type ActionCode,
  type GatewayToRouter,
  type JobUpdate,
  type RouterToGateway,
} from '../../core/protocol/gateway-wire.ts';
import type { Logger } from '../../core/logger.ts';
import type { AuthenticatedGateway, AuthFrame } from './auth.ts';

export interface ActionResult {
  code: ActionCode;
  data?: unknown;
  message?: string;
}

export interface SocketLike {
  send(text: string): void;
  close(code: number, reason: string): void;
  /**
   * A WebSocket ping control frame, where the runtime offers one; the adapter then reports
   * control pings and pongs from the gateway with `heard()`. Without it the Router pings with a
   * JSON `ping` frame, which every gateway answers too.
   */
  ping?(): void;
}

export interface ConnectionHooks {
  authenticate(frame: AuthFrame, challenge: string): Promise<AuthenticatedGateway>;
  onReady(conn: GatewayConnection): Promise<void>;
  onJob(conn: GatewayConnection, job: JobUpdate): Promise<void>;
  onClosed(conn: GatewayConnection): Promise<void>;
  onAuthFailed(error: PosternError): Promise<void>;
  logger: Logger;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  authTimeoutMs?: number;
}

interface Pending {
  resolve: (result: ActionResult) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class GatewayConnection {
  readonly challenge = toBase64Url(randomBytes(32));
  readonly clientIp: string;
  gateway: AuthenticatedGateway | null = null;
  version = '';
  connectedAt = 0;
  private lastHeard = Date.now();
  private pingId = 0;
  /** Conversation ids only need to be unique on this connection; a counter costs nothing. */
  private conversations = 0;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private authTimer: ReturnType<typeof setTimeout> | null = null;
  private pending = new Map<string, Pending>();
  private jobChain: Promise<void> = Promise.resolve();
  private closed = false;
  private authenticating = false;

  constructor(
    private readonly socket: SocketLike,
    clientIp: string,
    private readonly hooks: ConnectionHooks,
  ) {
    this.clientIp = clientIp;
  }

  get gatewayUid(): string {
    return this.gateway?.deviceUid ?? '';
  }

  open(): void {
    this.send({ t: 'challenge', nonce: this.challenge, routerTime: Date.now() });
    this.authTimer = setTimeout(() => this.fail(new PosternError('unauthorized', 'No authentication within 10 s.')), this.hooks.authTimeoutMs ?? 10_000);
  }

  private send(frame: RouterToGateway): void {
    if (this.closed) return;
    try {
      this.socket.send(encodeFrame(frame));
    } catch {
      this.close(1011, 'send failed');
    }
  }

  /** A sign of life below the frame level (a WebSocket ping or pong control frame). */
  heard(): void {
    this.lastHeard = Date.now();
  }

  /**
   * One frame from the gateway. Synchronous on purpose: after the handshake every frame is a
   * heartbeat, a result or a job update, and a Worker reads thousands per second; an async
   * function would allocate a promise for each (test/bench/gateways).
   */
  receive(text: unknown): void {
    if (this.closed) return;
    this.lastHeard = Date.now();
    let frame: GatewayToRouter;
    try {
      frame = decodeGatewayFrame(text);
    } catch (err) {
      this.fail(err as PosternError);
      return;
    }
    if (!this.gateway) {
      if (this.authenticating) return this.fail(new PosternError('bad_state', 'A frame arrived before the Router answered "auth"; wait for "ready".'));
      if (frame.t !== 'auth') return this.fail(new PosternError('unauthorized', 'The first frame must be "auth".'));
      this.authenticating = true;
      void this.authenticate(frame);
      return;
    }
    switch (frame.t) {
      case 'ping':
        this.send({ t: 'pong', id: frame.id });
        return;
      case 'pong':
        return;
      case 'result': {
        const waiting = this.pending.get(frame.id);
        if (!waiting) return; // late result of a timed-out conversation
        this.pending.delete(frame.id);
        clearTimeout(waiting.timer);
        const result: ActionResult = { code: frame.code };
        if (frame.data !== undefined) result.data = frame.data;
        if (frame.message) result.message = frame.message;
        waiting.resolve(result);
        return;
      }
      case 'job':
        // Job updates are applied in arrival order, one at a time.
        this.jobChain = this.jobChain
          .then(() => this.hooks.onJob(this, frame.job))
          .catch((err) => this.hooks.logger.warn({ err: String(err), gateway: this.gatewayUid }, 'job update refused'));
        return;
      case 'auth':
        return this.fail(new PosternError('bad_state', 'Already authenticated.'));
    }
  }

  private async authenticate(frame: AuthFrame): Promise<void> {
    try {
      const gateway = await this.hooks.authenticate(frame, this.challenge);
      if (this.closed) return;
      this.gateway = gateway;
      this.version = frame.version;
      this.connectedAt = Date.now();
      if (this.authTimer) clearTimeout(this.authTimer);
      await this.hooks.onReady(this);
      const interval = this.hooks.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
      this.send({ t: 'ready', gatewayUid: gateway.deviceUid, heartbeatMs: interval });
      this.heartbeat = setInterval(() => this.beat(interval), interval);
    } catch (err) {
      const error = err instanceof PosternError ? err : new PosternError('internal', 'Authentication failed inside the Router.');
      await this.hooks.onAuthFailed(error).catch(() => {});
      this.fail(error);
    } finally {
      this.authenticating = false;
    }
  }

  /**
   * Every interval: drop a gateway silent for longer than the timeout; otherwise ping it only if
   * nothing arrived during the last interval. A RouterLink pings every interval itself, and our
   * pong to that already tells it the Router is alive, so a ping of ours would add two frames per
   * gateway per interval (a third of a 10,000-gateway Worker's traffic, test/bench/gateways)
   * without telling either side anything new. A quiet peer is still pinged, so a gateway that
   * never pings is kept alive by its pongs and a half-open one is still dropped in time.
   */
  private beat(interval: number): void {
    const silence = Date.now() - this.lastHeard;
    if (silence > (this.hooks.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS)) {
      this.hooks.logger.warn({ gateway: this.gatewayUid, silenceMs: silence }, 'gateway silent; closing half-open connection');
      this.close(4000, 'heartbeat timeout');
      return;
    }
    if (silence < interval) return;
    if (this.socket.ping) {
      try {
        this.socket.ping();
      } catch {
        this.close(1011, 'ping failed');
      }
    } else {
      this.send({ t: 'ping', id: ++this.pingId });
    }
  }

  request(action: string, params: Record<string, unknown>, timeoutMs: number): Promise<ActionResult> {
    if (this.closed || !this.gateway) return Promise.resolve({ code: 'controller_down', message: 'The gateway disconnected.' });
    const id = String(++this.conversations);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ code: 'timeout', message: `The gateway did not answer "${action}" within ${timeoutMs} ms.` });
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
      this.send({ t: 'action', id, action, params, timeoutMs });
    });
  }

  private fail(error: PosternError): void {
    this.send({ t: 'error', code: error.code, message: error.message });
    this.close(4001, error.code);
  }

  /** Idempotent; also called by the adapter when the socket closes underneath us. */
  close(code = 1000, reason = 'closing'): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.authTimer) clearTimeout(this.authTimer);
    for (const [, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.resolve({ code: 'controller_down', message: 'The gateway disconnected before answering.' });
    }
    this.pending.clear();
    try {
      this.socket.close(code, reason);
    } catch {
      // already closed
    }
    if (this.gateway) void this.hooks.onClosed(this).catch(() => {});
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
