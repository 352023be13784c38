/**
 * Vault → Router → gateway: actions are authorised by role policy, record access and the PAM
 * configuration's features; they reach the gateway that configuration names; long work comes
 * back as a job with progress and log lines; an offline gateway is `controller_down`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobUpdate } from '../core/protocol/gateway-wire.ts';
import { newRecordData } from '../core/records/index.ts';
import { SecretsClient } from '../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../core/vault-client/index.ts';
import { RouterLink } from '../gateway/link/router-link.ts';
import { startTestRouter, storageBackends, type TestRouter } from './support/router.ts';
import { silentLogger } from '../core/logger.ts';

const quiet = silentLogger;

describe.each(storageBackends())('control plane (%s)', (backend) => {
  let router: TestRouter;
  let admin: VaultClient;
  let operator: VaultClient;
  let gateway: RouterLink;
  let gatewayUid: string;
  let folder: string;
  let config: string;
  let user: string;
  const received: { action: string; params: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    const transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'admin@example.com', 'admin master password');
    await registerAccount(transport, 'operator@example.com', 'operator master password');
    admin = await VaultClient.login(transport, 'admin@example.com', 'admin master password');
    operator = await VaultClient.login(transport, 'operator@example.com', 'operator master password');

    const app = await admin.createApplication('PAM');
    folder = await admin.addFolder('Infrastructure', { shared: true });
    await admin.shareFolderToApplication(app, folder, true);
    const [token] = await admin.addApplicationClients(app, { kind: 'gateway', name: 'gw-1', unlockIp: true });
    const gwConfig = await SecretsClient.redeemToken(token!.token);
    gatewayUid = gwConfig.deviceUid;
    gateway = new RouterLink({
      server: router.url,
      clientId: gwConfig.clientId,
      privateKey: gwConfig.privateKey,
      version: '0.1.0-test',
      logger: quiet,
      backoff: { baseMs: 50, capMs: 200 },
      onAction: async (frame) => {
        received.push({ action: frame.action, params: frame.params });
        if (frame.action === 'gateway-info') return { code: 'ok', data: { version: '0.1.0-test' } };
        if (frame.action === 'rotate') {
          const jobUid = String(frame.params['jobUid']);
          const steps: JobUpdate[] = [
            { jobUid, status: 'running', progress: 25, step: 'store pending secret', log: ['stored new secret as pending'] },
            { jobUid, status: 'running', progress: 75, step: 'verify', log: ['verified login'] },
            { jobUid, status: 'finished', progress: 100, step: 'done', log: ['finalized'] },
          ];
          setTimeout(() => steps.forEach((s) => gateway.sendJob(s)), 20);
          return { code: 'ok', data: { jobUid } };
        }
        return { code: 'bad_request', message: 'unknown' };
      },
    });
    gateway.start();
    await gateway.whenOnline();

    config = await admin.addRecord(
      newRecordData('pamConfiguration', 'Local', { environment: 'local', gatewayUid, applicationFolderUid: folder, features: { rotation: true } }),
      { folderUid: folder },
    );
    user = await admin.addRecord(newRecordData('pamUser', 'svc', { login: 'svc', password: 'old' }), { folderUid: folder });
  });
  afterAll(async () => {
    await gateway?.stop();
    await router?.stop();
  });

  it('round-trips gateway-info and lists the gateway online', async () => {
    const outcome = await admin.sendAction({ action: 'gateway-info', gatewayUid });
    expect(outcome).toMatchObject({ code: 'ok', data: { version: '0.1.0-test' }, gatewayUid });
    const [listed] = await admin.listGateways();
    expect(listed).toMatchObject({ gatewayUid, name: 'gw-1', online: true, version: '0.1.0-test', address: '127.0.0.1', workerId: 'embedded' });
    expect(listed!.connectedSince).toBeGreaterThan(0);
  });

  it('runs a rotation as a job with progress and logs, carrying UIDs only', async () => {
    const outcome = await admin.sendAction({ action: 'rotate', recordUid: user, configurationUid: config });
    expect(outcome.code).toBe('ok');
    const rotate = received.find((r) => r.action === 'rotate')!;
    expect(Object.keys(rotate.params).sort()).toEqual(['adminCredentialUid', 'configurationUid', 'jobUid', 'recordUid', 'requestedBy', 'resourceUid']);
    expect(rotate.params).toMatchObject({ resourceUid: null, adminCredentialUid: null, requestedBy: admin.session.userUid });
    expect(JSON.stringify(rotate.params)).not.toContain('old');
    await expect.poll(async () => (await admin.getJob(outcome.jobUid!)).job.status).toBe('finished');
    const { job, logs } = await admin.getJob(outcome.jobUid!);
    expect(job).toMatchObject({ progress: 100, step: 'done', createdBy: 'admin@example.com', recordUid: user });
    expect(logs.map((l) => l.line)).toEqual(['stored new secret as pending', 'verified login', 'finalized']);
    expect((await admin.getJob(outcome.jobUid!, 2)).logs.map((l) => l.seq)).toEqual([3]);
  });

  it('refuses users without the policy or without the record, and audits it', async () => {
    await expect(operator.sendAction({ action: 'rotate', recordUid: user, configurationUid: config })).rejects.toMatchObject({ code: 'not_allowed' });
    await admin.addRole('Rotators', ['rotate']);
    await admin.assignRole('Rotators', 'operator@example.com');
    expect((await operator.myPolicies()).policies).toEqual(['rotate']);
    await expect(operator.sendAction({ action: 'rotate', recordUid: user, configurationUid: config })).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(operator.sendAction({ action: 'gateway-info', gatewayUid })).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(operator.listGateways()).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(operator.addRole('Mine', ['rotate'])).rejects.toMatchObject({ code: 'not_allowed' });
    const denied = await router.db.selectFrom('events').selectAll().where('actor', '=', 'operator@example.com').where('outcome', '=', 'denied').execute();
    expect(denied.map((e) => e.action)).toContain('action.send');
    await admin.shareFolder(folder, 'operator@example.com', { canEdit: false, canShare: false });
    expect((await operator.sendAction({ action: 'rotate', recordUid: user, configurationUid: config })).code).toBe('ok');
  });

  it('honours the PAM configuration’s features and validates its targets', async () => {
    await admin.updateRecord(config, (d) => ({ ...d, fields: { ...d.fields, features: { ...(d.fields['features'] as object), rotation: false } } }));
    await expect(admin.sendAction({ action: 'rotate', recordUid: user, configurationUid: config })).rejects.toMatchObject({ code: 'not_allowed' });
    await admin.updateRecord(config, (d) => ({ ...d, fields: { ...d.fields, features: { ...(d.fields['features'] as object), rotation: true } } }));
    await expect(admin.sendAction({ action: 'rotate', recordUid: user, configurationUid: user })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(admin.sendAction({ action: 'rotate', recordUid: user })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(admin.sendAction({ action: 'self-destruct', gatewayUid })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('answers controller_down for an offline gateway and fails the job', async () => {
    await gateway.stop();
    await expect.poll(() => router.router.hub.isConnectedHere(gatewayUid)).toBe(false);
    const outcome = await admin.sendAction({ action: 'rotate', recordUid: user, configurationUid: config });
    expect(outcome.code).toBe('controller_down');
    expect((await admin.getJob(outcome.jobUid!)).job.status).toBe('failed');
    expect((await admin.listGateways())[0]!.online).toBe(false);
  });
});
