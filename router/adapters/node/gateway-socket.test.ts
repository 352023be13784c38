/**
 * The Node adapter's gateway WebSocket endpoint, driven by raw sockets: what it answers to
 * requests that are not a gateway's, to oversized and binary frames, whose address it records,
 * and how the heartbeat behaves towards a gateway that pings and one that stays quiet.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecdsaSign, fromBase64Url, toBase64Url } from '../../../core/crypto/index.ts';
import {
  decodeRouterFrame,
  encodeFrame,
  gatewayAuthBytes,
  GATEWAY_WS_PATH,
  MAX_GATEWAY_FRAME_BYTES,
  type RouterToGateway,
} from '../../../core/protocol/gateway-wire.ts';
import { SecretsClient, type SecretsConfig } from '../../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../../core/vault-client/index.ts';
import { gatewaySocketUrl } from '../../../gateway/link/router-link.ts';
import { startTestRouter, type TestRouter } from '../../../test/support/router.ts';

interface RawGateway {
  socket: WebSocket;
  frames: RouterToGateway[];
  closed: Promise<{ code: number; reason: string }>;
  next(): Promise<RouterToGateway>;
}

function rawGateway(url: string, headers: Record<string, string> = {}, options: { autoPong?: boolean } = {}): Promise<RawGateway> {
  const socket = new WebSocket(url, { headers, ...options });
  const frames: RouterToGateway[] = [];
  const waiters: ((f: RouterToGateway) => void)[] = [];
  socket.on('message', (d) => {
    const frame = decodeRouterFrame(d.toString());
    const w = waiters.shift();
    if (w) w(frame);
    else frames.push(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, frames, closed, next: () => new Promise((r) => (frames.length ? r(frames.shift()!) : waiters.push(r))) }));
    socket.once('error', reject);
  });
}

async function authFrame(config: SecretsConfig, nonce: string): Promise<string> {
  const timestamp = Date.now();
  const signature = toBase64Url(await ecdsaSign(fromBase64Url(config.privateKey), gatewayAuthBytes(nonce, timestamp, config.clientId)));
  return encodeFrame({ t: 'auth', clientId: config.clientId, nonce, timestamp, version: 'raw-1', signature });
}

describe('gateway WebSocket endpoint (Node adapter)', () => {
  let router: TestRouter;
  let owner: VaultClient;
  let app: string;

  async function newGateway(): Promise<SecretsConfig> {
    const [issued] = await owner.addApplicationClients(app, { kind: 'gateway', unlockIp: true, name: 'gw' });
    return SecretsClient.redeemToken(issued!.token);
  }

  async function healthy(): Promise<void> {
    expect((await fetch(`${router.url}/healthz`)).status).toBe(200);
  }

  beforeAll(async () => {
    // Short heartbeats so the quiet-gateway case runs in a second; trustProxy for the address test.
    router = await startTestRouter({ backend: 'sqlite', trustProxy: true, heartbeat: { intervalMs: 200, timeoutMs: 1_000 } });
    const transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'ws-owner@example.com', 'gateway socket owner password');
    owner = await VaultClient.login(transport, 'ws-owner@example.com', 'gateway socket owner password');
    app = await owner.createApplication('gateways');
  });
  afterAll(async () => router?.stop());

  it('answers an upgrade elsewhere with a 404 that names the gateway path', async () => {
    const socket = new WebSocket(`${router.url.replace('http', 'ws')}/api/v1/elsewhere`);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      socket.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      socket.on('open', () => reject(new Error('upgraded')));
    });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'not_found', message: expect.stringContaining(GATEWAY_WS_PATH) } });
    await healthy();
  });

  it('answers a plain request to the gateway path with 426 Upgrade Required', async () => {
    const res = await fetch(`${router.url}${GATEWAY_WS_PATH}`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(await res.json()).toMatchObject({ error: { code: 'bad_request', message: expect.stringContaining('WebSocket upgrade') } });
  });

  it('cuts off an oversized frame with 1009 and a binary frame with a typed error, and keeps serving', async () => {
    const big = await rawGateway(gatewaySocketUrl(router.url));
    expect((await big.next()).t).toBe('challenge');
    big.socket.send('x'.repeat(MAX_GATEWAY_FRAME_BYTES + 1));
    expect((await big.closed).code).toBe(1009);

    const binary = await rawGateway(gatewaySocketUrl(router.url));
    expect((await binary.next()).t).toBe('challenge');
    binary.socket.send(new Uint8Array([1, 2, 3]));
    expect(await binary.next()).toMatchObject({ t: 'error', code: 'bad_request', message: 'Gateway frames must be text.' });
    expect((await binary.closed).code).toBe(4001);
    await healthy();
    expect(router.router.hub.size).toBe(0);
  });

  it('records the right-most untrusted X-Forwarded-For hop as the gateway address, from a trusted proxy', async () => {
    const config = await newGateway();
    // The left-most hop is whatever the client wrote; the trusted loopback proxy appended the real one.
    const gw = await rawGateway(gatewaySocketUrl(router.url), { 'X-Forwarded-For': '10.0.0.1, 198.51.100.23' });
    const challenge = await gw.next();
    if (challenge.t !== 'challenge') throw new Error('expected a challenge');
    gw.socket.send(await authFrame(config, challenge.nonce));
    expect((await gw.next()).t).toBe('ready');
    const session = await router.db.selectFrom('gateway_sessions').selectAll().where('gateway_uid', '=', config.deviceUid).executeTakeFirstOrThrow();
    expect(session.address).toBe('198.51.100.23');
    gw.socket.close();
    await expect.poll(() => router.router.hub.isConnectedHere(config.deviceUid)).toBe(false);
  });

  it('refuses a frame sent before the Router answered auth, instead of authenticating twice', async () => {
    const config = await newGateway();
    const gw = await rawGateway(gatewaySocketUrl(router.url));
    const challenge = await gw.next();
    if (challenge.t !== 'challenge') throw new Error('expected a challenge');
    const auth = await authFrame(config, challenge.nonce);
    gw.socket.send(auth);
    gw.socket.send(auth);
    expect(await gw.next()).toMatchObject({ t: 'error', code: 'bad_state', message: expect.stringContaining('wait for "ready"') });
    expect((await gw.closed).code).toBe(4001);
    expect(router.router.hub.isConnectedHere(config.deviceUid)).toBe(false);
  });

  it('pings a quiet gateway, not one that pings, and drops one that goes silent', async () => {
    const config = await newGateway();
    // autoPong off: this test decides when the gateway answers the Router's WebSocket pings.
    const gw = await rawGateway(gatewaySocketUrl(router.url), {}, { autoPong: false });
    const challenge = await gw.next();
    if (challenge.t !== 'challenge') throw new Error('expected a challenge');
    gw.socket.send(await authFrame(config, challenge.nonce));
    expect((await gw.next()).t).toBe('ready');
    let routerPings = 0;
    let pongs = 0;
    let answerPings = true;
    gw.socket.on('ping', (data) => {
      routerPings++;
      if (answerPings) gw.socket.pong(data);
    });
    gw.socket.on('pong', () => pongs++);
    // Pinging (WebSocket control pings, as RouterLink does) faster than the Router's interval
    // for six intervals: the Router answers them and sends no pings of its own.
    const pinger = setInterval(() => gw.socket.ping(), 50);
    await new Promise((r) => setTimeout(r, 1_200));
    clearInterval(pinger);
    expect(routerPings).toBe(0);
    expect(pongs).toBeGreaterThan(10);
    // JSON pings, for gateways on runtimes without control frames, still get JSON pongs.
    gw.socket.send(encodeFrame({ t: 'ping', id: 41 }));
    expect(await gw.next()).toEqual({ t: 'pong', id: 41 });
    // Quiet but answering: the Router pings, the pongs keep the gateway connected past the timeout.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(routerPings).toBeGreaterThanOrEqual(3);
    expect(router.router.hub.isConnectedHere(config.deviceUid)).toBe(true);
    // Silent (pings unanswered): dropped after the timeout with 4000.
    answerPings = false;
    expect((await gw.closed).code).toBe(4000);
    expect(router.router.hub.isConnectedHere(config.deviceUid)).toBe(false);
  });
});
