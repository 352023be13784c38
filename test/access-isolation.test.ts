/**
 * A user who was not given a record, folder, file or application gets `not_allowed` for it
 * from every endpoint that names it, and sees nothing of it in sync or events. Calls go
 * through the raw transport so no client-side check hides a server-side gap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '../core/crypto/index.ts';
import { newRecordData } from '../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from './support/router.ts';

const uid = () => toBase64Url(randomBytes(16));
const blob = () => toBase64Url(randomBytes(60));

describe.each(storageBackends())('access isolation between users (%s)', (backend) => {
  let router: TestRouter;
  let transport: VaultTransport;
  let alice: VaultClient;
  let bob: VaultClient;
  let folder: string;
  let record: string;
  let resource: string;
  let fileUid: string;
  let app: string;
  let bobRecord: string;
  let bobApp: string;

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'alice@example.com', 'alice master password');
    await registerAccount(transport, 'bob@example.com', 'bob master password');
    alice = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
    bob = await VaultClient.login(transport, 'bob@example.com', 'bob master password');
    // Bob may run applications of his own (the attacks below use one); Alice is the administrator.
    await alice.addRole('Application owners', ['manage_applications']);
    await alice.assignRole('Application owners', 'bob@example.com');
    folder = await alice.addFolder('Alice only', { shared: true });
    record = await alice.addRecord(newRecordData('pamUser', 'root', { login: 'root', password: 'alice-canary' }), { folderUid: folder });
    resource = await alice.addRecord(newRecordData('pamMachine', 'web1', { hostname: 'web1.internal', port: 22 }), { folderUid: folder });
    fileUid = await alice.uploadFile(record, { name: 'key.txt', bytes: new TextEncoder().encode('alice file') });
    app = await alice.createApplication('alice app');
    bobRecord = await bob.addRecord(newRecordData('pamUser', 'bob user', { login: 'bob' }));
    bobApp = await bob.createApplication('bob app');
  });
  afterAll(async () => router?.stop());

  const asBob = <C extends Parameters<VaultTransport['call']>[0]>(command: C, body: Parameters<VaultTransport['call']>[1] & object) =>
    transport.call(command, body as never, bob.session.sessionToken);

  it('refuses every record, file, folder and application endpoint with not_allowed', async () => {
    const attempts: [string, () => Promise<unknown>][] = [
      ['record.get', () => asBob('record.get', { recordUid: record })],
      ['record.update', () => asBob('record.update', { recordUid: record, revision: 1, data: blob() })],
      ['record.delete', () => asBob('record.delete', { recordUid: record })],
      ['record.link parent', () => asBob('record.link', { parentUid: resource, childUid: bobRecord, kind: 'admin_credential' })],
      ['record.link child', () => asBob('record.link', { parentUid: bobRecord, childUid: record, kind: 'credential' })],
      ['record.add into folder', () => asBob('record.add', { recordUid: uid(), type: 'login', folderUid: folder, recordKey: blob(), data: blob() })],
      [
        'file.upload',
        () => asBob('file.upload', { fileUid: uid(), recordUid: record, kind: 'attachment', fileKey: blob(), metadata: blob(), content: blob() }),
      ],
      [
        'file.upload script',
        () => asBob('file.upload', { fileUid: uid(), recordUid: record, kind: 'script', fileKey: blob(), metadata: blob(), content: blob() }),
      ],
      ['file.download', () => asBob('file.download', { fileUid })],
      [
        'folder.share',
        () => asBob('folder.share', { folderUid: folder, userUid: bob.session.userUid, wrappedFolderKey: blob(), canEdit: true, canShare: true }),
      ],
      ['folder.add under', () => asBob('folder.add', { folderUid: uid(), parentUid: folder, shared: false, encryptedName: blob(), folderKey: blob() })],
      ['app.share own app, foreign folder', () => asBob('app.share', { appUid: bobApp, folderUid: folder, wrappedFolderKey: blob(), canEdit: false })],
      ['app.share foreign app', () => asBob('app.share', { appUid: app, folderUid: folder, wrappedFolderKey: blob(), canEdit: false })],
      [
        'app.client.add',
        () =>
          asBob('app.client.add', {
            appUid: app,
            clients: [{ clientIdHash: toBase64Url(randomBytes(32)), wrappedAppKey: blob(), name: 'x', firstAccessExpiresInMinutes: 60, ipLock: true }],
          }),
      ],
      ['app.client.list', () => asBob('app.client.list', { appUid: app })],
      ['app.client.remove', () => asBob('app.client.remove', { appUid: app, deviceUid: uid() })],
      ['record.get unknown uid', () => asBob('record.get', { recordUid: uid() })],
    ];
    for (const [name, attempt] of attempts) {
      const outcome = await attempt().then(
        () => 'succeeded',
        (e: { code?: string }) => e.code,
      );
      expect(outcome, name).toBe('not_allowed');
    }
    expect((await alice.getRecord(record)).data.fields['password']).toBe('alice-canary');
    expect((await alice.getRecord(record)).revision).toBe(1);
  });

  it('shows nothing of Alice in Bob’s sync or events, and records his refusals', async () => {
    const view = await bob.sync();
    expect(view.records.map((r) => r.uid)).toEqual([bobRecord]);
    expect(view.folders).toEqual([]);
    expect(view.applications.map((a) => a.name)).toEqual(['bob app']);
    const bobEvents = await bob.events({ limit: 500 });
    expect(bobEvents.every((e) => e.actor === 'bob@example.com')).toBe(true);
    expect(bobEvents.some((e) => e.action === 'record.get' && e.outcome === 'denied' && e.recordUid === record)).toBe(true);
    const aliceEvents = await alice.events({ limit: 500 });
    expect(aliceEvents.some((e) => e.actor === 'bob@example.com')).toBe(false);
  });

  it('after a read-only share, Bob reads but cannot edit, attach scripts or re-share', async () => {
    await alice.shareFolder(folder, 'bob@example.com', { canEdit: false, canShare: false });
    expect((await bob.getRecord(record)).data.fields['password']).toBe('alice-canary');
    await expect(asBob('record.update', { recordUid: record, revision: 1, data: blob() })).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(
      asBob('file.upload', { fileUid: uid(), recordUid: record, kind: 'attachment', fileKey: blob(), metadata: blob(), content: blob() }),
    ).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(
      asBob('folder.share', { folderUid: folder, userUid: alice.session.userUid, wrappedFolderKey: blob(), canEdit: false, canShare: false }),
    ).rejects.toMatchObject({ code: 'not_allowed' });
    expect(new TextDecoder().decode((await bob.downloadFile(fileUid)).bytes)).toBe('alice file');
  });

  it('with can-edit Bob edits, but only the owner attaches post-rotation scripts', async () => {
    await alice.shareFolder(folder, 'bob@example.com', { canEdit: true, canShare: false });
    await bob.updateRecord(record, (d) => ({ ...d, title: 'root (edited by bob)' }));
    expect((await alice.getRecord(record)).data.title).toBe('root (edited by bob)');
    await expect(bob.uploadFile(record, { name: 'rotate.sh', bytes: new TextEncoder().encode('#!/bin/sh\n'), kind: 'script' })).rejects.toMatchObject({
      code: 'not_allowed',
    });
    const script = await alice.uploadFile(record, { name: 'rotate.sh', bytes: new TextEncoder().encode('#!/bin/sh\necho rotated\n'), kind: 'script' });
    expect((await alice.downloadFile(script)).kind).toBe('script');
    await alice.linkRecords(resource, record, 'admin_credential');
    expect((await bob.getRecord(resource)).links).toEqual([{ childUid: record, kind: 'admin_credential' }]);
  });

  it('refuses rotation settings, PAM configurations and jobs of records Bob was not given, even with the policies', async () => {
    // Alice (the first account: an administrator) sets up rotation in a folder Bob never gets.
    const [ops, gatewayApp] = await Promise.all([alice.addFolder('Alice rotation', { shared: true }), alice.createApplication('alice gateways')]);
    await alice.shareFolderToApplication(gatewayApp, ops, true);
    const [aliceGateway] = await alice.addApplicationClients(gatewayApp, { kind: 'gateway', name: 'alice-gw', unlockIp: true });
    const aliceConfig = await alice.addRecord(
      newRecordData('pamConfiguration', 'Alice local', {
        environment: 'local',
        gatewayUid: aliceGateway!.deviceUid,
        applicationFolderUid: ops,
        features: { rotation: true },
      }),
      { folderUid: ops },
    );
    const aliceUser = await alice.addRecord(newRecordData('pamUser', 'svc', { login: 'svc', password: 'alice-rotation-canary' }), { folderUid: ops });
    const aliceMachine = await alice.addRecord(newRecordData('pamMachine', 'db1', { hostname: 'db1.internal', port: 22 }), { folderUid: ops });
    const aliceRotation = await alice.setRotation(aliceUser, { configurationUid: aliceConfig, resourceUid: aliceMachine, schedule: { kind: 'on-demand' } });
    // Her gateway is not connected: the Router still makes the job, then fails it (controller_down).
    const started = await alice.sendAction({ action: 'rotate', recordUid: aliceUser, configurationUid: aliceConfig });
    expect(started.code).toBe('controller_down');
    const aliceJob = started.jobUid!;
    expect(aliceJob).toBeDefined();

    // Bob gets every policy these endpoints need, and a gateway and PAM configuration of his own:
    // what is left to refuse him is Alice's records, gateway and job.
    await alice.addRole('Bob rotates', ['configure_rotation', 'configure_connections', 'configure_tunnels', 'manage_gateways', 'rotate']);
    await alice.assignRole('Bob rotates', 'bob@example.com');
    const bobFolder = await bob.addFolder('Bob rotation', { shared: true });
    const [bobGateway] = await bob.addApplicationClients(bobApp, { kind: 'gateway', name: 'bob-gw', unlockIp: true });
    const bobConfig = await bob.addRecord(
      newRecordData('pamConfiguration', 'Bob local', {
        environment: 'local',
        gatewayUid: bobGateway!.deviceUid,
        applicationFolderUid: bobFolder,
        features: { rotation: true },
      }),
      { folderUid: bobFolder },
    );
    // Control: with those policies Bob manages rotation of his own record.
    await bob.setRotation(bobRecord, { configurationUid: bobConfig, schedule: { kind: 'on-demand' } });
    expect((await bob.getRotation(bobRecord)).configurationUid).toBe(bobConfig);
    const features = {
      rotation: true,
      connections: true,
      remoteBrowserIsolation: false,
      tunneling: true,
      graphicalRecording: false,
      typescriptRecording: false,
    };
    await asBob('pam.config.set', { configUid: bobConfig, gatewayUid: bobGateway!.deviceUid, features });

    const onDemand = { kind: 'on-demand' } as const;
    const attempts: [string, () => Promise<unknown>][] = [
      ['rotation.set on her record', () => asBob('rotation.set', { recordUid: aliceUser, configurationUid: bobConfig, schedule: onDemand })],
      ['rotation.set with her configuration', () => asBob('rotation.set', { recordUid: bobRecord, configurationUid: aliceConfig, schedule: onDemand })],
      [
        'rotation.set with her resource',
        () => asBob('rotation.set', { recordUid: bobRecord, configurationUid: bobConfig, resourceUid: aliceMachine, schedule: onDemand }),
      ],
      ['rotation.get', () => asBob('rotation.get', { recordUid: aliceUser })],
      ['rotation.get unknown uid', () => asBob('rotation.get', { recordUid: uid() })],
      ['rotation.clear', () => asBob('rotation.clear', { recordUid: aliceUser })],
      ['pam.config.set on her configuration', () => asBob('pam.config.set', { configUid: aliceConfig, gatewayUid: bobGateway!.deviceUid, features })],
      ['pam.config.set with her gateway', () => asBob('pam.config.set', { configUid: bobConfig, gatewayUid: aliceGateway!.deviceUid, features })],
      ['job.get', () => asBob('job.get', { jobUid: aliceJob })],
      ['job.get unknown uid', () => asBob('job.get', { jobUid: uid() })],
      ['action.send rotate her record', () => asBob('action.send', { action: 'rotate', recordUid: aliceUser, configurationUid: bobConfig })],
      ['action.send through her configuration', () => asBob('action.send', { action: 'rotate', recordUid: bobRecord, configurationUid: aliceConfig })],
      ['action.send job-info on her job', () => asBob('action.send', { action: 'job-info', jobUid: aliceJob })],
      ['action.send job-cancel on her job', () => asBob('action.send', { action: 'job-cancel', jobUid: aliceJob })],
    ];
    for (const [name, attempt] of attempts) {
      const outcome = await attempt().then(
        () => ({ code: 'succeeded' }),
        (e: { code?: string; details?: Record<string, unknown> }) => ({ code: e.code, policy: e.details?.['policy'] }),
      );
      // not_allowed because of the record, gateway or job, not for want of a policy.
      expect(outcome, name).toEqual({ code: 'not_allowed', policy: undefined });
    }
    expect((await bob.listJobs()).map((j) => j.jobUid)).not.toContain(aliceJob);

    // Nothing of Alice's changed.
    expect(await alice.getRotation(aliceUser)).toEqual(aliceRotation);
    const binding = await router.db.selectFrom('pam_configurations').selectAll().where('config_uid', '=', aliceConfig).executeTakeFirstOrThrow();
    expect(binding.gateway_uid).toBe(aliceGateway!.deviceUid);
    expect(JSON.parse(binding.features)).toMatchObject({ rotation: true, connections: false, tunneling: false });
    const { job } = await alice.getJob(aliceJob);
    expect(job).toMatchObject({ status: 'failed', recordUid: aliceUser, createdBy: 'alice@example.com' });
    const denied = await router.db
      .selectFrom('events')
      .select(['action', 'outcome'])
      .where('actor', '=', 'bob@example.com')
      .where('outcome', '=', 'denied')
      .execute();
    const deniedActions = new Set(denied.map((e) => e.action));
    for (const action of ['rotation.set', 'rotation.get', 'rotation.clear', 'pam.config.set', 'job.get']) expect(deniedActions, action).toContain(action);
  });

  it('refuses links that do not make sense', async () => {
    await expect(alice.linkRecords(record, resource, 'admin_credential')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(alice.linkRecords(resource, resource, 'admin_credential')).rejects.toMatchObject({ code: 'bad_request' });
  });
});
