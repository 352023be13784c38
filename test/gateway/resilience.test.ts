/**
 * The gateway's connection to a real Router when things go wrong: the Router restarts (on the
 * same port and data directory), the network goes half-open, the Router refuses the gateway
 * (wrong key, replayed challenge, expired or removed gateway). The binary is used where the
 * process matters; in-process gateways (GatewayService) where many are needed or the
 * gateway's own status is inspected.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { generateP256KeyPair, toBase64Url } from '../../core/crypto/index.ts';
import { decodeRouterFrame, HEARTBEAT_TIMEOUT_MS } from '../../core/protocol/gateway-wire.ts';
import { decodeConfig, encodeConfig, SecretsClient, type SecretsConfig } from '../../core/secrets-client/index.ts';
import { gatewaySocketUrl, RouterLink } from '../../gateway/link/router-link.ts';
import { SecretScrubber } from '../../gateway/logging/scrubber.ts';
import { GatewayService, type LinkTuning } from '../../gateway/service.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { expectOk, FreezableProxy, logText, removeDir, runGateway, setupOwner, spawnGateway, tempHome, type Owner } from './support.ts';

interface Logged {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function memoryLogger() {
  const entries: Logged[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => void entries.push({ level, obj, msg });
  return { entries, logger: { info: at('info'), warn: at('warn'), debug: at('debug'), error: at('error') } };
}

function inProcessGateway(config: SecretsConfig, link: LinkTuning = {}) {
  const { entries, logger } = memoryLogger();
  const service = new GatewayService({ config, version: 'test', logger, scrubber: new SecretScrubber(), link });
  return { service, entries };
}

describe('gateway resilience', () => {
  const homes: string[] = [];
  const home = () => {
    const h = tempHome();
    homes.push(h);
    return h;
  };
  afterAll(() => {
    for (const h of homes) removeDir(h);
  });

  it('comes back online within seconds of a Router restart (same port and data dir)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'postern-gw-restart-'));
    homes.push(dataDir);
    const first = await startTestRouter({ dataDir });
    const port = first.port;
    const owner = await setupOwner(first.url, 'restart-admin@example.com');
    const h = home();
    const { token, deviceUid } = await owner.gatewayToken('binary');
    expectOk(await runGateway(['init', '--token', token], { home: h }), 'init');
    // Ten more gateways in-process, with the default backoff, to see the spread.
    const fleet = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const t = await owner.gatewayToken(`fleet-${i}`);
        return inProcessGateway(await SecretsClient.redeemToken(t.token)).service;
      }),
    );
    const gw = spawnGateway(['start', '--no-shell'], { home: h });
    let second: TestRouter | null = null;
    try {
      for (const s of fleet) s.start();
      await expect.poll(() => first.router.hub.isConnectedHere(deviceUid), { timeout: 15_000, interval: 50 }).toBe(true);
      await Promise.all(fleet.map((s) => s.link.whenOnline()));

      const downAt = Date.now();
      await first.stop();
      await expect.poll(() => fleet.every((s) => s.link.state !== 'online')).toBe(true);
      second = await startTestRouter({ dataDir, port });
      const upAt = Date.now();
      const back: number[] = new Array(fleet.length).fill(0);
      fleet.forEach((s, i) => void s.link.whenOnline().then(() => (back[i] = Date.now() - upAt)));
      await expect.poll(() => second!.router.hub.isConnectedHere(deviceUid), { timeout: 20_000, interval: 20 }).toBe(true);
      const binaryBack = Date.now() - upAt;
      await Promise.all(fleet.map((s) => s.link.whenOnline()));
      const sorted = [...back].sort((a, b) => a - b);
      console.log(
        `[gateway restart] Router down ${upAt - downAt} ms; binary gateway back ${binaryBack} ms after the Router; ` +
          `10 in-process gateways back after min ${sorted[0]} / median ${sorted[5]} / max ${sorted[9]} ms`,
      );
      expect(binaryBack).toBeLessThan(10_000);
      expect(sorted[9]).toBeLessThan(10_000);
      expect((await second.router.hub.deliver(deviceUid, 'gateway-info', {}, 5000)).code).toBe('ok');
    } finally {
      await Promise.all(fleet.map((s) => s.stop()));
      expect((await gw.stop()).code).toBe(0);
      await second?.stop();
    }
  });

  describe('against one Router', () => {
    let router: TestRouter;
    let owner: Owner;

    beforeAll(async () => {
      router = await startTestRouter();
      owner = await setupOwner(router.url, 'resilience-admin@example.com');
    });
    afterAll(async () => router?.stop());

    it('notices a half-open connection within the heartbeat timeout and reconnects (binary, --heartbeat-timeout 1)', async () => {
      expect(HEARTBEAT_TIMEOUT_MS).toBeLessThanOrEqual(30_000 - 1_000);
      expect(
        new RouterLink({
          server: router.url,
          clientId: 'x',
          privateKey: 'x',
          version: 'x',
          logger: memoryLogger().logger,
          onAction: async () => ({ code: 'ok' }),
        }).heartbeatTimeoutMs,
      ).toBe(HEARTBEAT_TIMEOUT_MS);
      const proxy = await FreezableProxy.start({ host: '127.0.0.1', port: router.port });
      const h = home();
      const { token, deviceUid } = await owner.gatewayToken('half-open');
      expectOk(await runGateway(['init', '--token', token, '--server', proxy.url], { home: h }), 'init');
      const gw = spawnGateway(['start', '--no-shell', '--heartbeat-timeout', '1'], { home: h });
      try {
        await expect.poll(() => router.router.hub.isConnectedHere(deviceUid), { timeout: 15_000, interval: 50 }).toBe(true);
        const connection = proxy.connections.at(-1)!;
        await new Promise((r) => setTimeout(r, 500)); // a few heartbeats pass normally
        expect(connection.clientClosedAt).toBeNull();
        proxy.freeze();
        const frozenAt = Date.now();
        await expect.poll(() => connection.clientClosedAt, { timeout: 5000, interval: 10 }).not.toBeNull();
        const detectedMs = connection.clientClosedAt! - frozenAt;
        console.log(`[gateway half-open] heartbeat timeout 1000 ms: the gateway dropped the dead connection after ${detectedMs} ms`);
        expect(detectedMs).toBeGreaterThanOrEqual(600);
        expect(detectedMs).toBeLessThan(2000);
        // It reconnects through a fresh connection and the Router swaps it in.
        await expect.poll(() => proxy.connections.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
        await expect.poll(async () => (await router.router.hub.deliver(deviceUid, 'gateway-info', {}, 1000)).code, { timeout: 10_000 }).toBe('ok');
      } finally {
        expect((await gw.stop()).code).toBe(0);
        await proxy.close();
      }
      expect(logText(h)).toContain('the Router went silent');
    });

    it('a gateway with the wrong key is refused, says why in its log, and keeps retrying (binary)', async () => {
      const h = home();
      const { token, deviceUid } = await owner.gatewayToken('wrong-key');
      expectOk(await runGateway(['init', '--token', token], { home: h }), 'init');
      const path = join(h, 'gateway-config.json');
      const config = decodeConfig(readFileSync(path, 'utf8'));
      writeFileSync(path, encodeConfig({ ...config, privateKey: toBase64Url(generateP256KeyPair().privateKey) }, 'json'), { mode: 0o600 });
      const gw = spawnGateway(['start', '--no-shell'], { home: h });
      try {
        await expect
          .poll(() => (logText(h).match(/the Router refused this gateway/g) ?? []).length, { timeout: 20_000, interval: 100 })
          .toBeGreaterThanOrEqual(2);
        expect(logText(h)).toContain('"code":"bad_signature"');
        expect(router.router.hub.isConnectedHere(deviceUid)).toBe(false);
        expect(gw.child.exitCode).toBeNull();
      } finally {
        expect((await gw.stop()).code).toBe(0);
      }
      const denied = await router.db.selectFrom('events').select(['detail']).where('action', '=', 'gateway.connect').where('outcome', '=', 'denied').execute();
      expect(denied.some((d) => String(d.detail).includes('bad_signature'))).toBe(true);
    });

    it('what the gateway signs is bound to one connection: a captured auth frame replayed is refused', async () => {
      // A man in the middle relays the gateway to the Router and keeps a copy of its auth frame.
      const { token } = await owner.gatewayToken('mitm');
      const config = await SecretsClient.redeemToken(token);
      const captured: string[] = [];
      const mitm = await new Promise<WebSocketServer>((resolve) => {
        const s: WebSocketServer = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => resolve(s));
      });
      mitm.on('connection', (down) => {
        const up = new WebSocket(gatewaySocketUrl(router.url));
        const queue: string[] = [];
        up.on('open', () => queue.splice(0).forEach((m) => up.send(m)));
        up.on('message', (d) => down.send(d.toString()));
        down.on('message', (d) => {
          const text = d.toString();
          if (text.includes('"t":"auth"')) captured.push(text);
          if (up.readyState === WebSocket.OPEN) up.send(text);
          else queue.push(text);
        });
        down.on('close', () => up.close());
        up.on('close', () => down.close());
      });
      const port = (mitm.address() as { port: number }).port;
      const { service } = inProcessGateway({ ...config, server: `http://127.0.0.1:${port}` });
      try {
        service.start();
        await service.link.whenOnline();
        expect(captured).toHaveLength(1);
        // The attacker opens its own connection and replays the frame: a new challenge, so no.
        const replay = new WebSocket(gatewaySocketUrl(router.url));
        const frames: ReturnType<typeof decodeRouterFrame>[] = [];
        replay.on('message', (d) => {
          const frame = decodeRouterFrame(d.toString());
          frames.push(frame);
          if (frame.t === 'challenge') replay.send(captured[0]!);
        });
        await expect.poll(() => frames.find((f) => f.t === 'error')).toMatchObject({ t: 'error', code: 'replayed' });
        replay.close();
        expect(frames.some((f) => f.t === 'ready')).toBe(false);
        // The gateway's own connection is untouched.
        expect(service.link.state).toBe('online');
      } finally {
        await service.stop();
        for (const c of mitm.clients) c.terminate();
        await new Promise((r) => mitm.close(r));
      }
    });

    it('shows expired and removed gateways as refusals in its status, without giving up', async () => {
      const expired = await owner.gatewayToken('expired');
      const expiredConfig = await SecretsClient.redeemToken(expired.token);
      await router.db
        .updateTable('devices')
        .set({ access_expires_at: Date.now() - 1 })
        .where('uid', '=', expired.deviceUid)
        .execute();
      const a = inProcessGateway(expiredConfig, { backoff: { baseMs: 20, capMs: 100 } });

      const removed = await owner.gatewayToken('removed');
      const b = inProcessGateway(await SecretsClient.redeemToken(removed.token), { backoff: { baseMs: 20, capMs: 100 } });
      try {
        a.service.start();
        b.service.start();
        await expect.poll(() => a.service.status().lastError?.code, { timeout: 5000 }).toBe('access_expired');
        expect(a.service.status().state).not.toBe('online');
        await b.service.link.whenOnline();
        await owner.client.removeGateway(removed.deviceUid);
        await expect.poll(() => b.service.status().lastError?.code, { timeout: 5000 }).toBe('revoked');
        await expect.poll(() => b.service.status().reconnectAttempts, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
        expect(b.entries.some((e) => e.level === 'warn' && e.obj['code'] === 'revoked')).toBe(true);
      } finally {
        await a.service.stop();
        await b.service.stop();
      }
    });
  });
});
