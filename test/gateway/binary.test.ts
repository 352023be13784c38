/**
 * The `postern-gateway` binary end to end, as child processes against a real Router:
 * init → 0600 configuration → start → online → gateway-info → SIGTERM → offline; the same
 * from GATEWAY_CONFIG; refusals at init (expired token, reused token, existing file); and a
 * rotate action that runs as a job, ends as failed (no plugin yet) and leaves no record
 * content in the gateway's log.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { decodeConfig, encodeConfig } from '../../core/secrets-client/index.ts';
import { JobLogReader } from '../../core/vault-client/job-log.ts';
import { GATEWAY_VERSION } from '../../gateway/version.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { expectOk, logText, removeDir, runGateway, setupOwner, spawnGateway, tempHome, type Owner } from './support.ts';

describe('postern-gateway binary', () => {
  let router: TestRouter;
  let owner: Owner;
  const homes: string[] = [];
  const home = () => {
    const h = tempHome();
    homes.push(h);
    return h;
  };

  beforeAll(async () => {
    router = await startTestRouter();
    owner = await setupOwner(router.url, 'gateway-admin@example.com');
  });
  afterAll(async () => {
    await router?.stop();
    for (const h of homes) removeDir(h);
  });

  async function initGateway(h: string, options: { stdin?: boolean } = {}): Promise<{ deviceUid: string; configPath: string }> {
    const { token, deviceUid } = await owner.gatewayToken();
    const run = expectOk(
      options.stdin ? await runGateway(['init', '--token', '-'], { home: h, stdin: `${token}\n` }) : await runGateway(['init', '--token', token], { home: h }),
      'postern-gateway init',
    );
    expect(run.stdout).toContain(`Gateway ${deviceUid}`);
    return { deviceUid, configPath: join(h, 'gateway-config.json') };
  }

  it('init writes a 0600 configuration; start connects, answers gateway-info, and goes offline on SIGTERM', async () => {
    const h = home();
    const t0 = Date.now();
    const { deviceUid, configPath } = await initGateway(h);
    const initMs = Date.now() - t0;
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    expect(statSync(h).mode & 0o777).toBe(0o700);
    const config = decodeConfig(readFileSync(configPath, 'utf8'));
    expect(config.deviceUid).toBe(deviceUid);

    const t1 = Date.now();
    const gw = spawnGateway(['start', '--no-shell'], { home: h });
    try {
      await expect.poll(() => router.router.hub.isConnectedHere(deviceUid), { timeout: 15_000, interval: 50 }).toBe(true);
      const onlineMs = Date.now() - t1;
      const session = await router.db.selectFrom('gateway_sessions').selectAll().where('gateway_uid', '=', deviceUid).executeTakeFirstOrThrow();
      expect(session.version).toBe(GATEWAY_VERSION);
      const info = await router.router.hub.deliver(deviceUid, 'gateway-info', {}, 5000);
      expect(info.code).toBe('ok');
      expect(info.data).toMatchObject({ version: GATEWAY_VERSION, gatewayUid: deviceUid, pid: gw.child.pid, runningTasks: 0 });
      console.log(`[gateway e2e] init ${initMs} ms; start → online ${onlineMs} ms`);
    } finally {
      const run = await gw.stop('SIGTERM');
      expect(run.code, run.stderr).toBe(0);
    }
    expect(router.router.hub.isConnectedHere(deviceUid)).toBe(false);
    expect((await router.router.hub.deliver(deviceUid, 'gateway-info', {}, 1000)).code).toBe('controller_down');
    const events = await router.db.selectFrom('events').select(['action', 'outcome']).where('actor', '=', deviceUid).execute();
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['gateway.connect', 'gateway.disconnect']));

    const logPath = join(h, 'logs', 'gateway.log');
    expect(statSync(logPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(h, 'logs')).mode & 0o777).toBe(0o700);
    const log = logText(h);
    expect(log).toContain('connected to the Router');
    expect(log).toContain('gateway stopped');
    for (const secret of [config.privateKey, config.appKey, config.clientId]) expect(log).not.toContain(secret);
  });

  it('starts from GATEWAY_CONFIG (base64) with no file', async () => {
    const initHome = home();
    const { deviceUid, configPath } = await initGateway(initHome, { stdin: true }); // the token from stdin
    const b64 = encodeConfig(decodeConfig(readFileSync(configPath, 'utf8')), 'b64');
    const h = home(); // an empty home: nothing to read but the variable
    const gw = spawnGateway(['start', '--no-shell'], { home: h, env: { GATEWAY_CONFIG: b64 } });
    try {
      await expect.poll(() => router.router.hub.isConnectedHere(deviceUid), { timeout: 15_000, interval: 50 }).toBe(true);
      expect((await router.router.hub.deliver(deviceUid, 'gateway-info', {}, 5000)).code).toBe('ok');
    } finally {
      const run = await gw.stop();
      expect(run.code).toBe(0);
      expect(run.stderr).toContain('configuration $GATEWAY_CONFIG');
    }
    expect(existsSync(join(h, 'gateway-config.json'))).toBe(false);
  });

  it('refuses an expired token with token_expired and writes nothing', async () => {
    const h = home();
    const { token, deviceUid } = await owner.gatewayToken();
    await router.db
      .updateTable('devices')
      .set({ first_access_expires_at: Date.now() - 1 })
      .where('uid', '=', deviceUid)
      .execute();
    const run = await runGateway(['init', '--token', token], { home: h });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^postern-gateway: The one-time gateway token has expired\. .* \(token_expired\)\n$/);
    expect(existsSync(join(h, 'gateway-config.json'))).toBe(false);
  });

  it('refuses a token used twice, and checks the target before spending a token', async () => {
    const first = home();
    const { token, deviceUid } = await owner.gatewayToken();
    expectOk(await runGateway(['init', '--token', token], { home: first }), 'first init');
    const before = readFileSync(join(first, 'gateway-config.json'), 'utf8');

    const second = home();
    const again = await runGateway(['init', '--token', token], { home: second });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already used to initialise a gateway');
    expect(again.stderr).toContain('(bad_state)');
    expect(existsSync(join(second, 'gateway-config.json'))).toBe(false);

    // An existing file: refused before the (fresh) token is redeemed, so the token still works.
    const fresh = await owner.gatewayToken();
    const refused = await runGateway(['init', '--token', fresh.token], { home: first });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('already exists; pass --force');
    expect(readFileSync(join(first, 'gateway-config.json'), 'utf8')).toBe(before);
    const device = await router.db.selectFrom('devices').select(['public_key']).where('uid', '=', fresh.deviceUid).executeTakeFirstOrThrow();
    expect(device.public_key).toBeNull();
    const elsewhere = join(second, 'other', 'gw.json');
    expectOk(await runGateway(['init', '--token', fresh.token, '--config', elsewhere], { home: first }), 'init --config');
    expect(statSync(elsewhere).mode & 0o777).toBe(0o600);
    expect(decodeConfig(readFileSync(elsewhere, 'utf8')).deviceUid).toBe(fresh.deviceUid);
    expect(deviceUid).not.toBe(fresh.deviceUid);

    const usage = await runGateway(['init'], { home: first });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("required option '--token <token>' not specified");
  });

  it('runs a rotate action as a job that fails for want of a linked resource, with no record content in its log', async () => {
    const CANARY = 'Canary-Pw-5f2c91e7!';
    const h = home();
    const { deviceUid } = await initGateway(h);
    const folder = await owner.client.addFolder('Rotation targets', { shared: true });
    await owner.client.shareFolderToApplication(owner.appUid, folder, true);
    const userUid = await owner.client.addRecord(
      newRecordData('pamUser', 'db root', { login: 'root', password: CANARY }, [{ label: 'Client Secret', value: `${CANARY}-custom` }]),
      {
        folderUid: folder,
      },
    );
    const configurationUid = await owner.client.addRecord(
      newRecordData('pamConfiguration', 'Local network', {
        environment: 'local',
        gatewayUid: deviceUid,
        applicationFolderUid: folder,
        features: { rotation: true },
      }),
      { folderUid: folder },
    );

    const gw = spawnGateway(['start', '--no-shell', '--debug'], { home: h });
    try {
      await expect.poll(() => router.router.hub.isConnectedHere(deviceUid), { timeout: 15_000, interval: 50 }).toBe(true);
      const outcome = await owner.client.sendAction({ action: 'rotate', recordUid: userUid, configurationUid });
      expect(outcome).toMatchObject({ code: 'ok', gatewayUid: deviceUid });
      const jobUid = outcome.jobUid!;
      expect(outcome.data).toEqual({ jobUid });
      await expect.poll(async () => (await owner.client.getJob(jobUid)).job.status, { timeout: 10_000 }).toBe('failed');
      const fetched = await owner.client.getJob(jobUid);
      // Sealed to the pamUser's readers once the gateway held its key; the Router keeps ciphertext.
      const reader = new JobLogReader(owner.client, jobUid, userUid);
      const [job, logs] = [await reader.job(fetched.job), await reader.lines(fetched.logs)];
      const NO_RESOURCE = `bad_request: pamUser ${userUid} is linked to no resource (pamMachine, pamDatabase or pamDirectory), so there is nothing to rotate it on.`;
      expect(job).toMatchObject({ action: 'rotate', recordUid: userUid, message: NO_RESOURCE, step: 'failed', progress: 5 });
      const lines = logs.map((l) => l.line);
      expect(lines[0]).toBe('rotate started on the gateway');
      expect(lines.some((l) => l.startsWith(`Fetching pamUser ${userUid}`))).toBe(true);
      expect(lines.at(-1)).toBe(NO_RESOURCE);
      const row = await router.db.selectFrom('jobs').selectAll().where('uid', '=', jobUid).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'failed', message: expect.stringMatching(/^bad_request: sealed:v1:m:/), gateway_uid: deviceUid });
      const stored = await router.db.selectFrom('job_logs').select('line').where('job_uid', '=', jobUid).execute();
      expect(stored.map((s) => s.line)).toEqual(fetched.logs.map((l) => l.line));
      expect(JSON.stringify(stored)).not.toContain(CANARY);

      // The job is over on the gateway as well.
      const info = await owner.client.sendAction({ action: 'job-info', jobUid });
      expect(info).toMatchObject({ code: 'ok', data: { jobUid, status: 'failed' } });
      // Discovery comes later: refused with a clear message, its job failed by the Router.
      const discover = await owner.client.sendAction({ action: 'discover-job-start', configurationUid });
      expect(discover).toMatchObject({ code: 'bad_request', message: expect.stringContaining('not available in this gateway version') });
    } finally {
      expect((await gw.stop()).code).toBe(0);
    }
    const log = logText(h);
    expect(log).toContain('"msg":"job ended"');
    expect(log).toContain('action received'); // debug level was on
    expect(log).not.toContain(CANARY);
    expect(log).not.toContain('Canary-Pw');
  });
});
