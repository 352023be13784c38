/**
 * The Router link against a fake Router (a bare WebSocket server we control), for what a real
 * Router never does on purpose: reuse a challenge, go silent, never send a challenge.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { ecdsaVerify, fromBase64Url, generateP256KeyPair, randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import {
  decodeGatewayFrame,
  encodeFrame,
  gatewayAuthBytes,
  GATEWAY_WS_PATH,
  type GatewayToRouter,
  type RouterToGateway,
} from '../../core/protocol/gateway-wire.ts';
import { newUid } from '../../core/ids.ts';
import { gatewaySocketUrl, RouterLink, type RouterLinkOptions } from './router-link.ts';

interface FakeOptions {
  /** The nonce to hand out; fresh per connection when absent. */
  nonce?: () => string;
  routerTime?: () => number;
  sendChallenge?: boolean;
  /** Answer the gateway's pings. */
  pong?: boolean;
}

class FakeRouter {
  readonly wss: WebSocketServer;
  readonly frames: GatewayToRouter[] = [];
  readonly sockets: WebSocket[] = [];
  readonly publicKey: Uint8Array;
  readonly privateKey: string;
  readonly clientId = toBase64Url(randomBytes(32));
  readonly gatewayUid = newUid();
  readonly verified: boolean[] = [];
  silent = false;
  /** WebSocket ping control frames received from the gateway (its heartbeats). */
  pings = 0;

  private constructor(
    wss: WebSocketServer,
    readonly options: FakeOptions,
  ) {
    this.wss = wss;
    const pair = generateP256KeyPair();
    this.publicKey = pair.publicKey;
    this.privateKey = toBase64Url(pair.privateKey);
    wss.on('connection', (socket, req) => {
      expect(req.url).toBe(GATEWAY_WS_PATH);
      this.sockets.push(socket);
      const nonce = options.nonce?.() ?? toBase64Url(randomBytes(32));
      if (options.sendChallenge !== false) socket.send(encodeFrame({ t: 'challenge', nonce, routerTime: options.routerTime?.() ?? Date.now() }));
      // autoPong is off so that a silent fake sends nothing back, as a half-open link would.
      socket.on('ping', (data) => {
        this.pings++;
        if (!this.silent && options.pong !== false) socket.pong(data);
      });
      socket.on('message', async (data) => {
        if (this.silent) return;
        const frame = decodeGatewayFrame(data.toString());
        this.frames.push(frame);
        if (frame.t === 'auth') {
          const ok =
            frame.nonce === nonce &&
            (await ecdsaVerify(this.publicKey, gatewayAuthBytes(frame.nonce, frame.timestamp, frame.clientId), fromBase64Url(frame.signature)));
          this.verified.push(ok);
          socket.send(
            encodeFrame(ok ? { t: 'ready', gatewayUid: this.gatewayUid, heartbeatMs: 10_000 } : { t: 'error', code: 'bad_signature', message: 'no' }),
          );
        }
        if (frame.t === 'ping' && options.pong !== false) socket.send(encodeFrame({ t: 'pong', id: frame.id }));
      });
    });
  }

  static async start(options: FakeOptions = {}): Promise<FakeRouter> {
    const wss = await new Promise<WebSocketServer>((resolve) => {
      const s: WebSocketServer = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false }, () => resolve(s));
    });
    return new FakeRouter(wss, options);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  send(index: number, frame: RouterToGateway): void {
    this.sockets[index]!.send(encodeFrame(frame));
  }

  async close(): Promise<void> {
    for (const s of this.wss.clients) s.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }
}

const logs: { level: string; msg: string | undefined; obj: Record<string, unknown> }[] = [];
const logger = {
  info: (obj: Record<string, unknown>, msg?: string) => logs.push({ level: 'info', msg, obj }),
  warn: (obj: Record<string, unknown>, msg?: string) => logs.push({ level: 'warn', msg, obj }),
  debug: (obj: Record<string, unknown>, msg?: string) => logs.push({ level: 'debug', msg, obj }),
  error: (obj: Record<string, unknown>, msg?: string) => logs.push({ level: 'error', msg, obj }),
};

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  logs.length = 0;
});

function link(fake: FakeRouter, extra: Partial<RouterLinkOptions> = {}): RouterLink {
  const l = new RouterLink({
    server: fake.url,
    clientId: fake.clientId,
    privateKey: fake.privateKey,
    version: 'unit',
    logger,
    backoff: { baseMs: 20, capMs: 100 },
    onAction: async (frame) => ({ code: 'ok', data: { echo: frame.action } }),
    ...extra,
  });
  cleanup.push(() => l.stop());
  return l;
}

async function fake(options: FakeOptions = {}): Promise<FakeRouter> {
  const f = await FakeRouter.start(options);
  cleanup.push(() => f.close());
  return f;
}

describe('RouterLink', () => {
  it('builds the WebSocket URL from the Router URL', () => {
    expect(gatewaySocketUrl('https://router.example.com/some/path?x=1')).toBe('wss://router.example.com/api/v1/gateway/connect');
    expect(gatewaySocketUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/api/v1/gateway/connect');
  });

  it('signs the challenge with the device key, goes online, answers actions and pings', async () => {
    const f = await fake();
    const states: string[] = [];
    const l = link(f, { onStateChange: (s) => states.push(s) });
    expect(l.sendJob({ jobUid: newUid(), status: 'running' })).toBe(false);
    l.start();
    await l.whenOnline();
    expect(f.verified).toEqual([true]);
    expect(l.gatewayUid).toBe(f.gatewayUid);
    expect(l.connectedSince).not.toBeNull();
    expect(states).toEqual(['connecting', 'online']);
    f.send(0, { t: 'action', id: 'c1', action: 'gateway-info', params: {}, timeoutMs: 1000 });
    f.send(0, { t: 'ping', id: 7 });
    await expect
      .poll(() => f.frames.filter((x) => x.t !== 'auth'))
      .toEqual(
        expect.arrayContaining([
          { t: 'result', id: 'c1', code: 'ok', data: { echo: 'gateway-info' } },
          { t: 'pong', id: 7 },
        ]),
      );
    expect(l.sendJob({ jobUid: newUid(), status: 'running', progress: 5 })).toBe(true);
  });

  it('refuses to sign a challenge it already signed (a replaying peer), and says so', async () => {
    const reused = toBase64Url(randomBytes(32));
    const f = await fake({ nonce: () => reused });
    const l = link(f);
    l.start();
    await l.whenOnline();
    // The "Router" drops the connection and hands out the same challenge again.
    f.sockets[0]!.terminate();
    await expect.poll(() => l.lastError?.code, { timeout: 3000 }).toBe('replayed');
    await expect.poll(() => f.sockets.length).toBeGreaterThanOrEqual(3);
    expect(f.frames.filter((x) => x.t === 'auth')).toHaveLength(1);
    expect(l.state).not.toBe('online');
    expect(logs.some((e) => e.level === 'warn' && e.msg === 'refusing to sign a reused challenge')).toBe(true);
  });

  it('notices a half-open connection after exactly the heartbeat timeout, then reconnects', async () => {
    const f = await fake();
    const l = link(f, { heartbeatTimeoutMs: 800 });
    l.start();
    await l.whenOnline();
    const closed = new Promise<number>((resolve) => f.sockets[0]!.once('close', () => resolve(Date.now())));
    f.silent = true; // the TCP connection stays up; nothing comes back
    const silentAt = Date.now();
    const at = await closed;
    const detectedAfter = at - silentAt;
    expect(l.lastError?.code).toBe('heartbeat_timeout');
    // Last frame heard (a pong) came at most one ping interval (timeout/3) before we went silent.
    expect(detectedAfter).toBeGreaterThanOrEqual(800 - 800 / 3 - 50);
    expect(detectedAfter).toBeLessThan(800 + 400);
    f.silent = false;
    await expect.poll(() => l.state, { timeout: 3000 }).toBe('online');
    expect(f.sockets.length).toBe(2);
  });

  it('stays online with a Router that never pings first: its own pings are answered', async () => {
    const f = await fake();
    const l = link(f, { heartbeatTimeoutMs: 600 });
    l.start();
    await l.whenOnline();
    await new Promise((r) => setTimeout(r, 1500));
    expect(l.state).toBe('online');
    expect(f.sockets).toHaveLength(1);
    expect(f.pings).toBeGreaterThanOrEqual(4);
    // Heartbeats are control frames, not JSON frames.
    expect(f.frames.filter((x) => x.t === 'ping')).toEqual([]);
  });

  it('gives up on a Router that accepts the socket but never sends a challenge', async () => {
    const f = await fake({ sendChallenge: false });
    const l = link(f, { heartbeatTimeoutMs: 500 });
    const started = Date.now();
    l.start();
    await expect.poll(() => l.lastError?.code, { timeout: 3000 }).toBe('heartbeat_timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(480);
    expect(l.attempts).toBeGreaterThanOrEqual(1);
  });

  it('reports an unreachable Router and keeps retrying with growing attempts', async () => {
    const f = await fake();
    const url = f.url;
    await f.close();
    const l = new RouterLink({
      server: url,
      clientId: 'x',
      privateKey: 'x',
      version: 'unit',
      logger,
      backoff: { baseMs: 10, capMs: 40 },
      onAction: async () => ({ code: 'ok' }),
    });
    cleanup.push(() => l.stop());
    l.start();
    await expect.poll(() => l.attempts, { timeout: 3000 }).toBeGreaterThanOrEqual(3);
    expect(l.lastError?.code).toBe('unreachable');
    expect(l.state).not.toBe('online');
  });

  it('warns when the clock differs from the Router’s by more than a minute', async () => {
    const f = await fake({ routerTime: () => Date.now() - 120_000 });
    const l = link(f);
    l.start();
    await l.whenOnline();
    expect(logs.find((e) => e.level === 'warn' && typeof e.obj['skewMs'] === 'number')?.obj['skewMs']).toBeGreaterThan(110_000);
  });

  it('stop() closes cleanly, rejects waiters and does not reconnect', async () => {
    const f = await fake({ sendChallenge: false });
    const l = link(f);
    l.start();
    const waiting = l.whenOnline();
    await l.stop();
    await expect(waiting).rejects.toThrow(/stopped/);
    await expect(l.whenOnline()).rejects.toThrow(/stopped/);
    const count = f.sockets.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(f.sockets.length).toBe(count);
    expect(l.state).toBe('stopped');
  });

  it('resets the backoff only after a connection that stayed up', async () => {
    const f = await fake();
    const l = link(f, { stableAfterMs: 60_000, backoff: { baseMs: 10, capMs: 20 } });
    l.start();
    await l.whenOnline();
    for (let i = 0; i < 3; i++) {
      f.sockets.at(-1)!.terminate();
      await expect.poll(() => f.sockets.length, { timeout: 2000 }).toBe(i + 2);
      await l.whenOnline();
    }
    // Flapping connections keep their attempt count: a Router that drops everyone at once is not hammered.
    expect(l.attempts).toBe(3);
  });
});
