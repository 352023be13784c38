/**
 * The scaled-out Router as real processes: one Head and two Workers (`postern server start
 * --role head|worker`) on one PostgreSQL database and one NATS broker. A vault talks to
 * Worker A; its gateway is connected to Worker B; actions sent through A reach the gateway
 * across Workers over NATS, and fail fast with `controller_down` once the gateway or its
 * Worker is gone. Vault responses carry the sticky cookie naming their Worker.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { SecretsClient, type SecretsConfig } from '../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import type { FetchLike } from '../../core/vault-client/transport.ts';
import { RouterLink, type ActionFrame } from '../../gateway/link/router-link.ts';
import { tempDir } from '../cli/support.ts';
import {
  clusterSkipReason,
  dataDirsWithSharedKey,
  freshPostgresDatabase,
  startRouterProcess,
  stopProcess,
  TEST_DATABASE,
  TEST_NATS,
  type RouterProcess,
} from './support.ts';
import { silentLogger } from '../../core/logger.ts';

const quiet = silentLogger;
const skip = clusterSkipReason();

describe.skipIf(skip)(`Router Head and Workers on PostgreSQL + NATS${skip ? ` (${skip})` : ''}`, () => {
  let root: string | undefined;
  let drop = async () => {};
  let database: string;
  let head: RouterProcess;
  let workerA: RouterProcess;
  let workerB: RouterProcess;
  let owner: VaultClient;
  let app: string;
  const cookiesFromA: string[] = [];
  const links: RouterLink[] = [];

  async function newGateway(): Promise<SecretsConfig> {
    const [issued] = await owner.addApplicationClients(app, { kind: 'gateway', unlockIp: true, name: 'gw' });
    return SecretsClient.redeemToken(issued!.token, { server: workerA.info.url });
  }

  /** A gateway connected to `worker`; it answers gateway-info with who it is, and accepts rotations. */
  function connectGateway(config: SecretsConfig, worker: RouterProcess, name: string, rotations: ActionFrame['params'][] = []): RouterLink {
    const link = new RouterLink({
      server: worker.info.url,
      clientId: config.clientId,
      privateKey: config.privateKey,
      version: 'cluster-test',
      logger: quiet,
      backoff: { baseMs: 50, capMs: 200 },
      onAction: async (frame) => {
        if (frame.action === 'gateway-info') return { code: 'ok', data: { gateway: name, params: frame.params } };
        if (frame.action === 'rotate') {
          rotations.push(frame.params);
          return { code: 'ok', data: { jobUid: frame.params['jobUid'] } };
        }
        return { code: 'bad_request', message: `unknown action ${frame.action}` };
      },
    });
    links.push(link);
    link.start();
    return link;
  }

  async function sessionWorker(gatewayUid: string): Promise<string | null> {
    const c = new pg.Client({ connectionString: database });
    await c.connect();
    try {
      const { rows } = await c.query<{ worker_id: string }>('SELECT worker_id FROM gateway_sessions WHERE gateway_uid = $1', [gatewayUid]);
      return rows[0]?.worker_id ?? null;
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    root = tempDir('postern-cluster-');
    const fresh = await freshPostgresDatabase(TEST_DATABASE!);
    database = fresh.url;
    drop = fresh.drop;
    const dirs = { ...dataDirsWithSharedKey(root, ['head', 'a', 'b']), home: `${root}/home` };
    const common = ['--database', database, '--nats', TEST_NATS!, '--port', '0'];
    // The Head first: it migrates the empty database; the Workers then start side by side.
    head = await startRouterProcess(['--role', 'head', '--worker-id', 'head-1', '--data', dirs.head, ...common], dirs.home);
    [workerA, workerB] = await Promise.all([
      startRouterProcess(['--role', 'worker', '--worker-id', 'worker-a', '--data', dirs.a, ...common], dirs.home),
      startRouterProcess(['--role', 'worker', '--worker-id', 'worker-b', '--data', dirs.b, ...common], dirs.home),
    ]);

    // The vault only ever talks to Worker A; record the cookies A sets.
    const recordingFetch: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      cookiesFromA.push(...response.headers.getSetCookie());
      return response;
    };
    const transport = await VaultTransport.connect(workerA.info.url, undefined, recordingFetch);
    await registerAccount(transport, 'cluster-admin@example.com', 'cluster admin master password');
    owner = await VaultClient.login(transport, 'cluster-admin@example.com', 'cluster admin master password');
    app = await owner.createApplication('gateways');
  });

  afterAll(async () => {
    await Promise.all(links.map((l) => l.stop().catch(() => {})));
    await Promise.all([stopProcess(head, 2_000), stopProcess(workerA, 2_000), stopProcess(workerB, 2_000)]);
    await drop().catch(() => {});
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('runs the Head without public endpoints and the Workers with them', async () => {
    expect(head.info).toMatchObject({ role: 'head', workerId: 'head-1', nats: TEST_NATS });
    expect(workerA.info).toMatchObject({ role: 'worker', workerId: 'worker-a' });
    expect(workerB.info).toMatchObject({ role: 'worker', workerId: 'worker-b' });
    expect(head.info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${head.info.url}/healthz`)).json()).toMatchObject({ status: 'ok', role: 'head', head: 'head-1' });
    // Not the vault, device or gateway endpoints: the Head is not for the internet.
    expect((await fetch(`${head.info.url}/api/v1/router-key`)).status).toBe(404);
    expect((await fetch(`${head.info.url}/api/v1/vault/account.prelogin`, { method: 'POST', body: '{}' })).status).toBe(404);
    for (const worker of [workerA, workerB]) {
      expect(await (await fetch(`${worker.info.url}/healthz`)).json()).toMatchObject({ status: 'ok', worker: worker.info.workerId });
    }
    // One Router key across the cluster, so a vault may be moved between Workers.
    const keys = await Promise.all(
      [workerA, workerB].map(async (w) => ((await (await fetch(`${w.info.url}/api/v1/router-key`)).json()) as { publicKey: string }).publicKey),
    );
    expect(keys[0]).toBe(keys[1]);
  });

  it('delivers an action sent through Worker A to a gateway connected to Worker B', async () => {
    const config = await newGateway();
    const gw = connectGateway(config, workerB, 'gw-on-b');
    await gw.whenOnline();
    expect(await sessionWorker(config.deviceUid)).toBe('worker-b');

    // The params that arrive are the Router's own (who asked), carried across Workers.
    const outcome = await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid });
    expect(outcome).toMatchObject({ code: 'ok', gatewayUid: config.deviceUid, data: { gateway: 'gw-on-b', params: { requestedBy: owner.session.userUid } } });

    await gw.stop();
    await expect.poll(() => sessionWorker(config.deviceUid), { timeout: 5_000 }).toBeNull();
    const after = await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid });
    expect(after.code).toBe('controller_down');
  });

  it('lets the Head fire a scheduled rotation to the gateway on Worker B', async () => {
    const folder = await owner.addFolder('Infrastructure', { shared: true });
    await owner.shareFolderToApplication(app, folder, true);
    const config = await newGateway();
    const rotations: ActionFrame['params'][] = [];
    const gw = connectGateway(config, workerB, 'gw-rotating', rotations);
    await gw.whenOnline();
    const pamConfig = await owner.addRecord(
      newRecordData('pamConfiguration', 'Local', {
        environment: 'local',
        gatewayUid: config.deviceUid,
        applicationFolderUid: folder,
        features: { rotation: true },
      }),
      { folderUid: folder },
    );
    const pamUser = await owner.addRecord(newRecordData('pamUser', 'svc', { login: 'svc', password: 'old' }), { folderUid: folder });
    // Only the Head runs the scheduler; the Workers (head: false) leave the schedule alone.
    await owner.setRotation(pamUser, { configurationUid: pamConfig, schedule: { kind: 'once', at: Date.now() + 1_000 } });
    await expect.poll(() => rotations.length, { timeout: 10_000, interval: 100 }).toBe(1);
    expect(rotations[0]).toMatchObject({ recordUid: pamUser, configurationUid: pamConfig, jobUid: expect.any(String) });
    // Fired by the Head's scheduler, through NATS to Worker B; no Worker runs a scheduler.
    const log = (p: RouterProcess) => readFileSync(join(p.info.dataDir, 'logs', 'router.log'), 'utf8');
    await expect.poll(() => log(head), { timeout: 5_000 }).toMatch(new RegExp(`"record":"${pamUser}".*"code":"ok".*scheduled rotation sent`));
    expect(log(head)).toContain('rotation scheduler started');
    for (const worker of [workerA, workerB]) expect(log(worker)).not.toContain('rotation scheduler');
    await gw.stop();
  });

  it('names Worker A, and nothing else, in the sticky cookie of its vault responses', async () => {
    expect(cookiesFromA.length).toBeGreaterThan(3);
    for (const cookie of cookiesFromA) expect(cookie).toBe('postern_worker=worker-a; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax');
    // Errors too, Secure behind a TLS proxy, and each Worker names itself.
    const refused = await fetch(`${workerB.info.url}/api/v1/vault/no.such.command`, { method: 'POST', body: '{}', headers: { 'x-forwarded-proto': 'https' } });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.headers.getSetCookie()).toEqual(['postern_worker=worker-b; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax; Secure']);
    // Only vault API responses.
    expect((await fetch(`${workerA.info.url}/api/v1/router-key`)).headers.getSetCookie()).toEqual([]);
  });

  it('answers controller_down, without hanging, when the Worker holding the gateway dies', async () => {
    const config = await newGateway();
    const gw = connectGateway(config, workerB, 'gw-doomed');
    await gw.whenOnline();
    expect((await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid })).code).toBe('ok');

    workerB.child.kill('SIGKILL');
    expect(await workerB.exited).toBe('SIGKILL');
    // Its gateway_sessions row is still fresh (nobody cleaned up), but nobody serves it on NATS.
    expect(await sessionWorker(config.deviceUid)).toBe('worker-b');
    const started = Date.now();
    const outcome = await owner.sendAction({ action: 'gateway-info', gatewayUid: config.deviceUid });
    expect(outcome.code).toBe('controller_down');
    expect(outcome.message).toContain('worker-b');
    // Not the action's 10 s timeout: NATS says at once that nobody serves Worker B.
    expect(Date.now() - started).toBeLessThan(5_000);
    await gw.stop();
  });

  it('stops the Head and a Worker cleanly on SIGTERM', async () => {
    const [headCode, aCode] = await Promise.all([stopProcess(head), stopProcess(workerA)]);
    expect({ head: headCode, a: aCode, stderr: headCode === 0 && aCode === 0 ? '' : head.output().stderr + workerA.output().stderr }).toEqual({
      head: 0,
      a: 0,
      stderr: '',
    });
    expect(workerA.output().stderr).toMatch(/Router stopped/);
  });
});
