import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PosternError } from '../core/errors.ts';
import { newRecordData } from '../core/records/index.ts';
import { SecretsClient } from '../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from './support/router.ts';

describe.each(storageBackends())('vault SDK against a real Router (%s)', (backend) => {
  let router: TestRouter;
  let transport: VaultTransport;
  let alice: VaultClient;
  let bob: VaultClient;

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'alice@example.com', 'correct horse battery staple');
    await registerAccount(transport, 'bob@example.com', 'another long passphrase');
    alice = await VaultClient.login(transport, 'alice@example.com', 'correct horse battery staple');
    bob = await VaultClient.login(transport, 'bob@example.com', 'another long passphrase');
  });
  afterAll(async () => router?.stop());

  it('stores, shares and hands records to a device', async () => {
    const folder = await alice.addFolder('Production', { shared: true });
    const uid = await alice.addRecord(newRecordData('pamUser', 'db admin', { login: 'root', password: 'canary-pw-1' }), { folderUid: folder });
    const got = await alice.getRecord(uid);
    expect(got.data.fields['password']).toBe('canary-pw-1');

    await expect(bob.getRecord(uid)).rejects.toMatchObject({ code: 'not_allowed' });
    await alice.shareFolder(folder, 'bob@example.com', { canEdit: false, canShare: false });
    expect((await bob.getRecord(uid)).data.fields['login']).toBe('root');
    await expect(bob.updateRecord(uid, (d) => ({ ...d, title: 'x' }))).rejects.toMatchObject({ code: 'not_allowed' });

    const app = await alice.createApplication('Gateway app');
    await alice.shareFolderToApplication(app, folder, true);
    const [issued] = await alice.addApplicationClients(app, { name: 'ci', unlockIp: false });
    const config = await SecretsClient.redeemToken(issued!.token);
    const device = new SecretsClient(config);
    const secrets = await device.getSecrets();
    expect(secrets.map((s) => s.uid)).toEqual([uid]);
    expect(secrets[0]!.data.fields['password']).toBe('canary-pw-1');

    const pending = await device.updateSecret(uid, (d) => ({ ...d, fields: { ...d.fields, password: 'canary-pw-2' } }), { transaction: 'rotation' });
    expect(pending.pending).toBe(true);
    expect((await alice.getRecord(uid)).data.fields['password']).toBe('canary-pw-1');
    const seen = await device.getSecret(uid);
    expect(seen.pending?.data.fields['password']).toBe('canary-pw-2');
    await device.finalizeSecretUpdate(uid, { rollback: false });
    expect((await alice.getRecord(uid)).data.fields['password']).toBe('canary-pw-2');
  });

  it('refuses a stale revision without overwriting', async () => {
    const uid = await alice.addRecord(newRecordData('login', 'web', { login: 'a', password: 'b' }));
    await alice.updateRecord(uid, (d) => ({ ...d, title: 'web 2' }));
    const err = await alice.updateRecord(uid, (d) => ({ ...d, title: 'web 3' }), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PosternError);
    expect((err as PosternError).code).toBe('conflict');
    expect((await alice.getRecord(uid)).data.title).toBe('web 2');
  });
});
