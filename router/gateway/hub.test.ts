/**
 * The gateway WebSocket end to end against a real Router: challenge auth, action round
 * trips, refusals (wrong key, reused challenge, plain device), half-open detection.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecdsaSign, fromBase64Url, generateP256KeyPair, toBase64Url } from '../../core/crypto/index.ts';
import { decodeRouterFrame, encodeFrame, gatewayAuthBytes } from '../../core/protocol/gateway-wire.ts';
import { SecretsClient, type SecretsConfig } from '../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { gatewaySocketUrl, RouterLink } from '../../gateway/link/router-link.ts';
import { startTestRouter, type TestRouter } from '../../test/support/router.ts';
import { silentLogger } from '../../core/logger.ts';

const quiet = silentLogger;

describe('gateway hub', () => {
  let router: TestRouter;
  let owner: VaultClient;
  let app: string;

  async function newGateway(kind: 'gateway' | 'device' = 'gateway'): Promise<SecretsConfig> {
    const [issued] = await owner.addApplicationClients(app, { kind, unlockIp: true, name: 'gw' });
    return SecretsClient.redeemToken(issued!.token);
  }

  function link(config: SecretsConfig, privateKey = config.privateKey) {
    return new RouterLink({
      server: router.url,
      clientId: config.clientId,
      privateKey,
      version: 'test-1',
      logger: quiet,
      backoff: { baseMs: 50, capMs: 200 },
      onAction: async (frame) =>
        frame.action === 'gateway-info' ? { code: 'ok', data: { echo: frame.params } } : { code: 'bad_request', message: `unknown action ${frame.action}` },
    });
  }

  /** Open a raw socket and return the challenge nonce, for hand-made auth frames. */
  async function rawSocket(): Promise<{ socket: WebSocket; nonce: string; next: () => Promise<ReturnType<typeof decodeRouterFrame>> }> {
    const socket = new WebSocket(gatewaySocketUrl(router.url));
    const frames: string[] = [];
    const waiters: ((t: string) => void)[] = [];
    socket.on('message', (d) => {
      const w = waiters.shift();
      if (w) w(d.toString());
      else frames.push(d.toString());
    });
    const next = () => new Promise<string>((resolve) => (frames.length ? resolve(frames.shift()!) : waiters.push(resolve))).then(decodeRouterFrame);
    const challenge = await next();
    if (challenge.t !== 'challenge') throw new Error('expected a challenge');
    return { socket, nonce: challenge.nonce, next };
  }

  beforeAll(async () => {
    router = await startTestRouter({ backend: 'sqlite' });
    const transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'gw-owner@example.com', 'gateway owner password');
    owner = await VaultClient.login(transport, 'gw-owner@example.com', 'gateway owner password');
    app = await owner.createApplication('gateways');
  });
  afterAll(async () => router?.stop());

  it('authenticates a gateway and round-trips an action', async () => {
    const config = await newGateway();
    const gw = link(config);
    gw.start();
    await gw.whenOnline();
    expect(gw.gatewayUid).toBe(config.deviceUid);
    const result = await router.router.hub.deliver(config.deviceUid, 'gateway-info', { ping: 1 }, 2000);
    expect(result).toEqual({ code: 'ok', data: { echo: { ping: 1 } } });
    expect((await router.router.hub.deliver(config.deviceUid, 'frobnicate', {}, 2000)).code).toBe('bad_request');
    const session = await router.db.selectFrom('gateway_sessions').selectAll().where('gateway_uid', '=', config.deviceUid).executeTakeFirstOrThrow();
    expect(session).toMatchObject({ worker_id: 'embedded', version: 'test-1', address: '127.0.0.1' });
    await gw.stop();
    await expect.poll(() => router.router.hub.isConnectedHere(config.deviceUid)).toBe(false);
    expect((await router.router.hub.deliver(config.deviceUid, 'gateway-info', {}, 2000)).code).toBe('controller_down');
  });

  it('refuses a wrong key and keeps retrying with backoff', async () => {
    const config = await newGateway();
    const gw = link(config, toBase64Url(generateP256KeyPair().privateKey));
    gw.start();
    await expect.poll(() => gw.lastError?.code, { timeout: 5000 }).toBe('bad_signature');
    await expect.poll(() => gw.attempts, { timeout: 5000 }).toBeGreaterThan(1);
    expect(router.router.hub.isConnectedHere(config.deviceUid)).toBe(false);
    await gw.stop();
  });

  it('refuses a challenge signed for another connection', async () => {
    const config = await newGateway();
    const first = await rawSocket();
    const timestamp = Date.now();
    const signature = toBase64Url(await ecdsaSign(fromBase64Url(config.privateKey), gatewayAuthBytes(first.nonce, timestamp, config.clientId)));
    const auth = { t: 'auth' as const, clientId: config.clientId, nonce: first.nonce, timestamp, version: 'x', signature };
    first.socket.send(encodeFrame(auth));
    expect((await first.next()).t).toBe('ready');
    first.socket.close();
    const second = await rawSocket();
    second.socket.send(encodeFrame(auth));
    const refused = await second.next();
    expect(refused).toMatchObject({ t: 'error', code: 'replayed' });
    second.socket.close();
  });

  it('refuses a device that is not a gateway, and garbage frames', async () => {
    const config = await newGateway('device');
    const gw = link(config);
    gw.start();
    await expect.poll(() => gw.lastError?.code, { timeout: 5000 }).toBe('not_allowed');
    await gw.stop();
    const raw = await rawSocket();
    raw.socket.send('{"t":"auth"');
    expect(await raw.next()).toMatchObject({ t: 'error', code: 'bad_request' });
    raw.socket.close();
  });

  it('drops a half-open gateway and answers controller_down', async () => {
    const config = await newGateway();
    const raw = await rawSocket();
    const timestamp = Date.now();
    raw.socket.send(
      encodeFrame({
        t: 'auth',
        clientId: config.clientId,
        nonce: raw.nonce,
        timestamp,
        version: 'x',
        signature: toBase64Url(await ecdsaSign(fromBase64Url(config.privateKey), gatewayAuthBytes(raw.nonce, timestamp, config.clientId))),
      }),
    );
    expect((await raw.next()).t).toBe('ready');
    // Never answer the action: the Router times the conversation out.
    expect(await router.router.hub.deliver(config.deviceUid, 'gateway-info', {}, 300)).toMatchObject({ code: 'timeout' });
    raw.socket.terminate();
    await expect.poll(() => router.router.hub.isConnectedHere(config.deviceUid)).toBe(false);
  });
});
