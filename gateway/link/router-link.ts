/**
 * The gateway's one outbound connection: a WebSocket to the Router, authenticated by signing
 * the Router's fresh challenge with the device key, kept alive by heartbeats both ways, and
 * re-established with full-jitter backoff whenever it drops.
 *
 * Liveness: everything from the Router (frames, and the WebSocket pongs to our pings) counts as
 * a sign of life. A watchdog fires exactly `heartbeatTimeoutMs` after the last one (25 s by
 * default, so a half-open connection is noticed within 30 s) and the socket is thrown away.
 * The gateway pings at least three times per timeout window, so a quiet but healthy Router
 * always has something to answer. Its pings are WebSocket ping control frames: every
 * WebSocket server answers them by itself, and a Worker holding 10,000 gateways pays no
 * message event, string or JSON for them (test/bench/gateways: JSON pings were what pushed
 * the Worker into major GCs). JSON `ping` frames from the Router are still answered.
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
import type { Logger } from '../../core/logger.ts';

export type ActionFrame = Extract<RouterToGateway, { t: 'action' }>;
export interface ActionReply {
  code: ActionCode;
  data?: unknown;
  message?: string;
}

/**
 * idle → connecting → online ⇄ waiting (backoff) → … → stopped.
 * `connecting` covers the TCP/TLS/upgrade and the challenge exchange.
 */
export type LinkState = 'idle' | 'connecting' | 'online' | 'waiting' | 'stopped';

export interface LinkError {
  code: string;
  message: string;
}

export interface RouterLinkOptions {
  server: string;
  clientId: string;
  privateKey: string;
  version: string;
  onAction: (frame: ActionFrame) => Promise<ActionReply>;
  logger: Logger;
  backoff?: BackoffPolicy;
  /** How often the gateway pings; never more than a third of the timeout. Default: the Router's `heartbeatMs`, at most 10 s. */
  heartbeatIntervalMs?: number;
  /** Silence from the Router after which the connection is declared dead. Default 25 s. */
  heartbeatTimeoutMs?: number;
  /** Limit for the TCP connect + TLS + HTTP upgrade. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A connection that stayed up this long resets the backoff. Default 30 s. */
  stableAfterMs?: number;
  onStateChange?: (state: LinkState, detail?: LinkError) => void;
  /** For tests: the source of jitter. */
  random?: () => number;
}

/** A Router clock further off than this is worth a warning (the Router refuses beyond 5 min). */
const CLOCK_SKEW_WARN_MS = 60_000;
/** How many recently signed challenges are remembered, to refuse signing one twice. */
const SIGNED_NONCES_KEPT = 256;

export function gatewaySocketUrl(server: string): string {
  const url = new URL(server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = GATEWAY_WS_PATH;
  url.search = '';
  url.hash = '';
  return url.toString();
}

class LinkStopped extends Error {
  constructor() {
    super('The Router link was stopped.');
    this.name = 'LinkStopped';
  }
}

export class RouterLink {
  state: LinkState = 'idle';
  gatewayUid: string | null = null;
  /** When the current connection became ready (ms since epoch), null while not online. */
  connectedSince: number | null = null;
  /** Why the link was last not online: the Router's refusal code, or a transport failure. Cleared when online. */
  lastError: LinkError | null = null;
  /** Reconnect attempts since the last stable connection. */
  attempts = 0;
  /** Completed connections (ready received) since start. */
  connections = 0;
  private socket: WebSocket | null = null;
  /** A refusal or failure seen on the current socket, reported when it closes. */
  private socketError: LinkError | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pinger: ReturnType<typeof setInterval> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private lastHeard = 0;
  private signedNonces = new Set<string>();
  /** Decoded once: core/crypto imports a key into WebCrypto once per array that holds it. */
  private signingKey: Uint8Array | null = null;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(private readonly options: RouterLinkOptions) {}

  get heartbeatTimeoutMs(): number {
    return this.options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  }

  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.connect();
  }

  /** Resolves when the link is online; rejects if it is stopped first. */
  whenOnline(): Promise<void> {
    if (this.state === 'online') return Promise.resolve();
    if (this.state === 'stopped') return Promise.reject(new LinkStopped());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.setState('stopped');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopTimers();
    this.connectedSince = null;
    for (const w of this.waiters.splice(0)) w.reject(new LinkStopped());
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000, 'gateway stopping');
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 1000).unref();
      });
    } else socket?.terminate();
  }

  /** Sends a job update now; false when the link is not online (the caller keeps it for later). */
  sendJob(job: JobUpdate): boolean {
    if (this.state !== 'online' || !this.socket) return false;
    return this.send(this.socket, { t: 'job', job });
  }

  private setState(state: LinkState, detail?: LinkError): void {
    this.state = state;
    this.options.onStateChange?.(state, detail);
    if (state === 'online') for (const w of this.waiters.splice(0)) w.resolve();
  }

  private send(socket: WebSocket, frame: GatewayToRouter): boolean {
    if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeFrame(frame));
    return true;
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.retryTimer = null;
    this.socketError = null;
    this.setState('connecting');
    let socket: WebSocket;
    try {
      socket = new WebSocket(gatewaySocketUrl(this.options.server), {
        handshakeTimeout: this.options.handshakeTimeoutMs ?? 10_000,
        maxPayload: 1024 * 1024,
        perMessageDeflate: false,
      });
    } catch (err) {
      this.scheduleReconnect({ code: 'bad_request', message: `Cannot connect to ${this.options.server}: ${(err as Error).message}` });
      return;
    }
    this.socket = socket;
    this.heard();
    socket.on('message', (data, isBinary) => {
      if (socket !== this.socket) return;
      this.heard();
      void this.receive(socket, isBinary ? null : data.toString('utf8'));
    });
    // Pongs to our pings, and the Router's own WebSocket pings (ws answers those itself).
    socket.on('pong', () => {
      if (socket === this.socket) this.heard();
    });
    socket.on('ping', () => {
      if (socket === this.socket) this.heard();
    });
    socket.on('close', (code, reason) => {
      if (socket !== this.socket) return;
      const text = reason.toString('utf8');
      this.scheduleReconnect(
        this.socketError ?? { code: code === 1006 ? 'connection_lost' : `closed_${code}`, message: text || `connection closed (${code})` },
      );
    });
    socket.on('error', (err) => {
      if (socket !== this.socket) return;
      this.socketError ??= { code: 'unreachable', message: err.message };
      this.options.logger.debug({ err: err.message }, 'router link error');
    });
  }

  /** Something arrived from the Router: push the watchdog deadline back. */
  private heard(): void {
    this.lastHeard = Date.now();
    if (!this.watchdog) this.armWatchdog();
  }

  private armWatchdog(): void {
    const wait = Math.max(0, this.lastHeard + this.heartbeatTimeoutMs - Date.now());
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      const socket = this.socket;
      if (!socket || this.state === 'stopped') return;
      const silence = Date.now() - this.lastHeard;
      if (silence < this.heartbeatTimeoutMs) {
        this.armWatchdog();
        return;
      }
      this.options.logger.warn({ silenceMs: silence, state: this.state }, 'the Router went silent; dropping the connection and reconnecting');
      this.scheduleReconnect({ code: 'heartbeat_timeout', message: `nothing heard from the Router for ${silence} ms` });
      socket.terminate();
    }, wait);
  }

  private async receive(socket: WebSocket, text: string | null): Promise<void> {
    let frame: RouterToGateway;
    try {
      frame = decodeRouterFrame(text);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'malformed frame from the Router; reconnecting');
      this.socketError = { code: 'bad_request', message: 'The Router sent a malformed frame.' };
      socket.terminate();
      return;
    }
    switch (frame.t) {
      case 'challenge':
        await this.answerChallenge(socket, frame);
        return;
      case 'ready':
        this.gatewayUid = frame.gatewayUid;
        this.connectedSince = Date.now();
        this.connections += 1;
        this.lastError = null;
        this.startPinging(frame.heartbeatMs);
        this.options.logger.info({ gatewayUid: frame.gatewayUid, attempts: this.attempts }, 'connected to the Router');
        this.setState('online');
        return;
      case 'error':
        this.socketError = { code: frame.code, message: frame.message };
        this.options.logger.warn({ code: frame.code }, `the Router refused this gateway: ${frame.message}`);
        return;
      case 'ping':
        this.send(socket, { t: 'pong', id: frame.id });
        return;
      case 'pong':
        return;
      case 'action': {
        if (this.state !== 'online') return;
        let reply: ActionReply;
        try {
          reply = await this.options.onAction(frame);
        } catch (err) {
          reply = { code: 'bad_state', message: (err as Error).message };
        }
        // Only on the socket the action came in on: a reconnected Router forgot the conversation.
        this.send(socket, {
          t: 'result',
          id: frame.id,
          code: reply.code,
          ...(reply.data !== undefined ? { data: reply.data } : {}),
          ...(reply.message ? { message: reply.message } : {}),
        });
        return;
      }
    }
  }

  private async answerChallenge(socket: WebSocket, frame: Extract<RouterToGateway, { t: 'challenge' }>): Promise<void> {
    if (this.state !== 'connecting') {
      this.socketError = { code: 'bad_state', message: 'The Router sent a second challenge on one connection.' };
      socket.terminate();
      return;
    }
    // A fresh challenge per connection is the Router's promise; a peer that hands out one it
    // handed out before is replaying, and gets no second signature over it.
    if (this.signedNonces.has(frame.nonce)) {
      this.socketError = { code: 'replayed', message: 'The Router presented a challenge this gateway already signed; refusing to sign it again.' };
      this.options.logger.warn({ code: 'replayed' }, 'refusing to sign a reused challenge');
      socket.terminate();
      return;
    }
    this.signedNonces.add(frame.nonce);
    if (this.signedNonces.size > SIGNED_NONCES_KEPT) this.signedNonces.delete(this.signedNonces.values().next().value!);
    const timestamp = Date.now();
    const skew = timestamp - frame.routerTime;
    if (Math.abs(skew) > CLOCK_SKEW_WARN_MS) {
      this.options.logger.warn(
        { skewMs: skew },
        'this machine’s clock differs from the Router’s by more than a minute; beyond 5 minutes the Router refuses the gateway',
      );
    }
    this.signingKey ??= fromBase64Url(this.options.privateKey);
    const signature = await ecdsaSign(this.signingKey, gatewayAuthBytes(frame.nonce, timestamp, this.options.clientId));
    this.send(socket, {
      t: 'auth',
      clientId: this.options.clientId,
      nonce: frame.nonce,
      timestamp,
      version: this.options.version,
      signature: toBase64Url(signature),
    });
  }

  private startPinging(routerIntervalMs: number): void {
    if (this.pinger) clearInterval(this.pinger);
    const interval = Math.max(
      50,
      Math.min(this.options.heartbeatIntervalMs ?? routerIntervalMs, HEARTBEAT_INTERVAL_MS, Math.floor(this.heartbeatTimeoutMs / 3)),
    );
    this.pinger = setInterval(() => {
      try {
        this.socket?.ping();
      } catch {
        // Not open any more: its 'close' schedules the reconnect.
      }
    }, interval);
  }

  private stopTimers(): void {
    if (this.pinger) clearInterval(this.pinger);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.pinger = null;
    this.watchdog = null;
  }

  private scheduleReconnect(reason: LinkError): void {
    this.stopTimers();
    this.socket = null;
    this.socketError = null;
    if (this.state === 'stopped') return;
    const stableAfter = this.options.stableAfterMs ?? 30_000;
    if (this.connectedSince !== null && Date.now() - this.connectedSince >= stableAfter) this.attempts = 0;
    this.connectedSince = null;
    this.lastError = reason;
    const delay = fullJitterDelay(this.attempts++, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random);
    this.setState('waiting', reason);
    this.options.logger.info({ delayMs: delay, attempt: this.attempts, reason: reason.code }, 'reconnecting to the Router');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
