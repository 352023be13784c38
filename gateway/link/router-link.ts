/**
 * The gateway's one outbound connection: a WebSocket to the Router, authenticated by signing
 * the Router's fresh challenge with the device key, kept alive by heartbeats both ways, and
 * re-established with full-jitter backoff whenever it drops.
 */
import WebSocket from 'ws';
import { ecdsaSign, fromBase64Url, toBase64Url } from '../../core/crypto/index.ts';
import {
  decodeRouterFrame,
  encodeFrame,
  GATEWAY_WS_PATH,
  gatewayAuthBytes,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  type ActionCode,
  type GatewayToRouter,
  type JobUpdate,
  type RouterToGateway,
} from '../../core/protocol/gateway-wire.ts';
import { DEFAULT_BACKOFF, fullJitterDelay, type BackoffPolicy } from './backoff.ts';

export type ActionFrame = Extract<RouterToGateway, { t: 'action' }>;
export interface ActionReply {
  code: ActionCode;
  data?: unknown;
  message?: string;
}

export type LinkState = 'idle' | 'connecting' | 'online' | 'waiting' | 'stopped';

export interface LinkLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  debug(obj: Record<string, unknown>, msg?: string): void;
}

export interface RouterLinkOptions {
  server: string;
  clientId: string;
  privateKey: string;
  version: string;
  onAction: (frame: ActionFrame) => Promise<ActionReply>;
  logger: LinkLogger;
  backoff?: BackoffPolicy;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  onStateChange?: (state: LinkState, detail?: { code?: string; message?: string }) => void;
}

export function gatewaySocketUrl(server: string): string {
  const url = new URL(server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = GATEWAY_WS_PATH;
  return url.toString();
}

export class RouterLink {
  state: LinkState = 'idle';
  gatewayUid: string | null = null;
  connectedSince: number | null = null;
  lastError: { code: string; message: string } | null = null;
  attempts = 0;
  private socket: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private pingId = 0;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly options: RouterLinkOptions) {}

  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.setState('connecting');
    this.connect();
  }

  /** Resolves when the link is online (for tests and for `start` to report). */
  whenOnline(): Promise<void> {
    if (this.state === 'online') return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000, 'gateway stopping');
        setTimeout(resolve, 1000).unref();
      });
    } else socket?.terminate();
  }

  sendJob(job: JobUpdate): boolean {
    return this.send({ t: 'job', job });
  }

  private setState(state: LinkState, detail?: { code?: string; message?: string }): void {
    this.state = state;
    this.options.onStateChange?.(state, detail);
    if (state === 'online') for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private send(frame: GatewayToRouter): boolean {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(encodeFrame(frame));
    return true;
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.setState('connecting');
    const socket = new WebSocket(gatewaySocketUrl(this.options.server), { handshakeTimeout: 10_000, maxPayload: 1024 * 1024 });
    this.socket = socket;
    this.lastHeard = Date.now();
    socket.on('message', (data, isBinary) => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      void this.receive(isBinary ? null : data.toString('utf8'));
    });
    socket.on('close', (code, reason) => {
      if (socket !== this.socket) return;
      this.scheduleReconnect({ code: String(code), message: reason.toString('utf8') || 'connection closed' });
    });
    socket.on('error', (err) => {
      if (socket !== this.socket) return;
      this.options.logger.debug({ err: err.message }, 'router link error');
    });
  }

  private async receive(text: string | null): Promise<void> {
    let frame: RouterToGateway;
    try {
      frame = decodeRouterFrame(text);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'malformed frame from the Router; reconnecting');
      this.socket?.terminate();
      return;
    }
    switch (frame.t) {
      case 'challenge': {
        const timestamp = Date.now();
        const signature = ecdsaSign(fromBase64Url(this.options.privateKey), gatewayAuthBytes(frame.nonce, timestamp, this.options.clientId));
        this.send({ t: 'auth', clientId: this.options.clientId, nonce: frame.nonce, timestamp, version: this.options.version, signature: toBase64Url(signature) });
        return;
      }
      case 'ready':
        this.gatewayUid = frame.gatewayUid;
        this.connectedSince = Date.now();
        this.attempts = 0;
        this.lastError = null;
        this.startHeartbeat(this.options.heartbeatIntervalMs ?? frame.heartbeatMs);
        this.options.logger.info({ gatewayUid: frame.gatewayUid }, 'connected to the Router');
        this.setState('online');
        return;
      case 'error':
        this.lastError = { code: frame.code, message: frame.message };
        this.options.logger.warn({ code: frame.code }, `the Router refused this gateway: ${frame.message}`);
        return;
      case 'ping':
        this.send({ t: 'pong', id: frame.id });
        return;
      case 'pong':
        return;
      case 'action': {
        let reply: ActionReply;
        try {
          reply = await this.options.onAction(frame);
        } catch (err) {
          reply = { code: 'bad_state', message: (err as Error).message };
        }
        this.send({ t: 'result', id: frame.id, code: reply.code, ...(reply.data !== undefined ? { data: reply.data } : {}), ...(reply.message ? { message: reply.message } : {}) });
        return;
      }
    }
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    const timeout = this.options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > timeout) {
        this.options.logger.warn({ silenceMs: Date.now() - this.lastHeard }, 'the Router went silent; reconnecting');
        const dead = this.socket;
        this.scheduleReconnect({ code: 'heartbeat_timeout', message: 'no heartbeat from the Router' });
        dead?.terminate();
        return;
      }
      this.send({ t: 'ping', id: ++this.pingId });
    }, Math.min(intervalMs, HEARTBEAT_INTERVAL_MS));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private scheduleReconnect(reason: { code: string; message: string }): void {
    this.stopHeartbeat();
    this.socket = null;
    if (this.state === 'stopped') return;
    const delay = fullJitterDelay(this.attempts++, this.options.backoff ?? DEFAULT_BACKOFF);
    this.gatewayUid = this.state === 'online' ? this.gatewayUid : this.gatewayUid;
    this.connectedSince = null;
    this.setState('waiting', this.lastError ?? reason);
    this.options.logger.info({ delayMs: delay, attempt: this.attempts, reason: this.lastError?.code ?? reason.code }, 'reconnecting to the Router');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
