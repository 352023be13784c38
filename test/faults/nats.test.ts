/**
 * NATS goes away under a scaled-out Router (a Head and two Workers as real processes, the
 * broker reached through a TCP proxy the test cuts): the Workers keep serving what needs no
 * other Worker, an action for a gateway on the other Worker is refused at once with a clear
 * reason, /healthz says the bus is down, and when the broker returns the bus reconnects by
 * itself and cross-Worker actions work again. (That a scheduled rotation due meanwhile waits for
 * the bus and then fires once is router/head/scheduler.test.ts's.)
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { SecretsClient } from '../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { RouterLink } from '../../gateway/link/router-link.ts';
import { removeDir, tempDir } from '../cli/support.ts';
import {
  clusterSkipReason,
  dataDirsWithSharedKey,
  freshPostgresDatabase,
  startRouterProcess,
  stopProcess,
  TEST_DATABASE,
  TEST_NATS,
  type RouterProcess,
} from '../cluster/support.ts';
import { sleep } from '../schedule/support.ts';
import { printFaultTable, recordFault, steadyLoad } from './measure.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import { silentLogger } from '../../core/logger.ts';

const quiet = silentLogger;
const skip = clusterSkipReason();

afterAll(() => printFaultTable());

const healthOf = async (url: string) =>
  (await (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) })).json()) as { status: string; bus?: { ok: boolean } };

describe.skipIf(skip)('NATS goes away under a Head and two Workers', () => {
  let root: string;
  let drop = async () => {};
  let proxy: TcpProxy;
  let head: RouterProcess;
  let workerA: RouterProcess;
  let workerB: RouterProcess;
  let link: RouterLink;

  beforeAll(async () => {
    root = tempDir('postern-fault-nats-');
    const fresh = await freshPostgresDatabase(TEST_DATABASE!);
    drop = fresh.drop;
    const nats = new URL(TEST_NATS!);
    proxy = await startTcpProxy({ host: nats.hostname, port: Number(nats.port || 4222) });
    const dirs = { ...dataDirsWithSharedKey(root, ['head', 'a', 'b']), home: join(root, 'home') };
    const common = ['--database', fresh.url, '--nats', `nats://${proxy.host}:${proxy.port}`, '--port', '0'];
    // The broker is shared with the other cluster suites running alongside: worker ids (the
    // subjects actions travel on) unique to this run keep their messages apart.
    const run = randomBytes(4).toString('hex');
    head = await startRouterProcess(['--role', 'head', '--worker-id', `fault-head-${run}`, '--data', dirs.head, ...common], dirs.home);
    [workerA, workerB] = await Promise.all([
      startRouterProcess(['--role', 'worker', '--worker-id', `fault-a-${run}`, '--data', dirs.a, ...common], dirs.home),
      startRouterProcess(['--role', 'worker', '--worker-id', `fault-b-${run}`, '--data', dirs.b, ...common], dirs.home),
    ]);
  }, 60_000);

  afterAll(async () => {
    await link?.stop().catch(() => {});
    await Promise.all([stopProcess(head, 2_000), stopProcess(workerA, 2_000), stopProcess(workerB, 2_000)]);
    await proxy?.close();
    await drop().catch(() => {});
    removeDir(root);
  });

  it('keeps serving vaults, refuses cross-Worker actions at once with the reason, and reconnects by itself', async () => {
    const transport = await VaultTransport.connect(workerA.info.url);
    await registerAccount(transport, 'nats-admin@example.com', 'nats admin master password');
    const owner = await VaultClient.login(transport, 'nats-admin@example.com', 'nats admin master password');
    const record = await owner.addRecord(newRecordData('login', 'served', { login: 'a', password: 'pw' }));
    const app = await owner.createApplication('gateways');
    const [issued] = await owner.addApplicationClients(app, { kind: 'gateway', unlockIp: true, name: 'gw' });
    const config = await SecretsClient.redeemToken(issued!.token, { server: workerA.info.url });
    link = new RouterLink({
      server: workerB.info.url,
      clientId: config.clientId,
      privateKey: config.privateKey,
      version: 'fault-test',
      logger: quiet,
      backoff: { baseMs: 50, capMs: 200 },
      onAction: async (frame) => {
        if (frame.action === 'gateway-info') return { code: 'ok', data: { on: 'b' } };
        return { code: 'bad_request', message: frame.action };
      },
    });
    link.start();
    await link.whenOnline();
    expect((await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid })).code).toBe('ok');

    const load = steadyLoad(
      20,
      () => owner.getRecord(record),
      (err) => (err as { code?: string }).code ?? 'untyped',
    );
    const cutAt = Date.now();
    proxy.cut();
    await expect.poll(async () => (await healthOf(workerA.info.url)).bus?.ok, { timeout: 10_000, interval: 50 }).toBe(false);
    const busDownSeenMs = Date.now() - cutAt;
    expect((await healthOf(workerA.info.url)).status).toBe('degraded');

    const asked = Date.now();
    const refused = await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid });
    const refusedMs = Date.now() - asked;
    expect(refused.code).toBe('controller_down');
    expect(refused.message).toMatch(/cluster bus \(NATS\) is down/);
    expect(refusedMs).toBeLessThan(2_000);
    // The gateway stays connected to its Worker all along.
    expect(link.state).toBe('online');
    expect(link.connections).toBe(1);
    await expect.poll(async () => (await healthOf(head.info.url)).bus?.ok, { timeout: 10_000, interval: 50 }).toBe(false);
    await sleep(2_000);

    const restoredAt = Date.now();
    proxy.restore();
    await expect.poll(async () => (await healthOf(workerA.info.url)).bus?.ok, { timeout: 15_000, interval: 50 }).toBe(true);
    await expect.poll(async () => (await healthOf(workerB.info.url)).bus?.ok, { timeout: 15_000, interval: 50 }).toBe(true);
    await expect.poll(async () => (await healthOf(head.info.url)).bus?.ok, { timeout: 15_000, interval: 50 }).toBe(true);
    let back = await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid });
    for (let i = 0; i < 40 && back.code !== 'ok'; i++) {
      await sleep(100);
      back = await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid });
    }
    expect(back).toMatchObject({ code: 'ok', data: { on: 'b' } });
    const backMs = Date.now() - restoredAt;
    const outcomes = await load.stop();
    const during = outcomes.filter((o) => o.at >= cutAt && o.at < restoredAt);
    // Vault requests never needed the bus.
    expect(during.length).toBeGreaterThan(30);
    expect(outcomes.filter((o) => o.outcome !== 'ok')).toEqual([]);
    expect(link.connections).toBe(1);
    for (const p of [head, workerA, workerB]) expect(p.child.exitCode).toBeNull();

    recordFault({
      fault: `NATS cut for ${restoredAt - cutAt} ms (Head + 2 Workers; vault load on A, gateway on B)`,
      firstErrorMs: busDownSeenMs + refusedMs,
      recoveryMs: backMs,
      outcomes: during,
    });
  }, 90_000);
});
