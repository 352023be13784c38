/**
 * An editor points a resource of their own at an administrator's credential they cannot read and
 * at a host they control, then rotates: a real Router, a real `postern-gateway`, the real CLI, and
 * an SSH server of the attacker's that records every password offered to it. The gateway must not
 * even connect: it uses only the resource and admin credential the Router authorised for the
 * requester (docs/threat-model.md: editor, gateway).
 */
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData, type RecordData } from '../../core/records/index.ts';
import type { VaultClient } from '../../core/vault-client/index.ts';
import { CliUser } from '../cli/support.ts';
import { RotationLab } from '../rotation/lab.ts';

const ADMIN_PASSWORD = 'Admin-Canary-Do-Not-Send-7731';

/** An SSH server that accepts nothing and remembers every connection and password offered. */
async function attackerSshServer() {
  const seen = { connections: 0, passwords: [] as string[] };
  const server = new ssh2.Server({ hostKeys: [ssh2.utils.generateKeyPairSync('ed25519').private] }, (client) => {
    seen.connections++;
    client.on('authentication', (ctx) => {
      if (ctx.method === 'password') seen.passwords.push(ctx.password);
      ctx.reject(['password']);
    });
    client.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('a rotation uses only the admin credential the Router authorised for the requester', () => {
  let lab: RotationLab;
  let mallory: CliUser;
  let mallorySdk: VaultClient;
  let attacker: Awaited<ReturnType<typeof attackerSshServer>>;
  let adminCredential: string;

  beforeAll(async () => {
    attacker = await attackerSshServer();
    lab = await RotationLab.start('adminborrow');
    // The administrator's credential sits in a folder the gateway can read and Mallory cannot.
    const admins = await lab.vault.addFolder('Admins only', { shared: true });
    await lab.vault.shareFolderToApplication(lab.appUid, admins, false);
    adminCredential = await lab.vault.addRecord(newRecordData('pamUser', 'prod root', { login: 'root', password: ADMIN_PASSWORD }), { folderUid: admins });
    mallory = new CliUser(lab.router.url, 'mallory@example.com');
    await mallory.registerWithSdk();
    await lab.vault.shareFolder(lab.folderUid, mallory.email, { canEdit: true, canShare: false });
    await lab.admin.ok(['role', 'add', 'Rotators', '--policy', 'rotate']);
    await lab.admin.ok(['role', 'assign', 'Rotators', '--user', mallory.email]);
    mallorySdk = await mallory.loginWithSdk();
    await lab.startGateway();
  });
  afterAll(async () => {
    await lab?.close();
    mallory?.cleanup();
    await attacker?.close();
  });

  // threat model (docs/threat-model.md): editor
  it('refuses, before connecting anywhere, a resource that names an admin credential the requester cannot read', async () => {
    const hostile = await mallorySdk.addRecord(newRecordData('pamMachine', 'my box', { hostname: '127.0.0.1', port: attacker.port }), {
      folderUid: lab.folderUid,
    });
    // The vault publishes the admin as a link, which the Router refuses; the encrypted record keeps naming it.
    const named = await mallorySdk
      .updateRecord(hostile, (d) => ({ ...d, fields: { ...d.fields, pamSettings: { adminCredentialUid: adminCredential } } }) as RecordData)
      .catch((e: { code?: string }) => e.code);
    expect(named).toBe('not_allowed');
    const svc = await mallorySdk.addRecord(newRecordData('pamUser', 'my svc', { login: 'svc', password: 'Mallory-Old-1!' }), { folderUid: lab.folderUid });
    await mallorySdk.linkRecords(hostile, svc, 'credential');

    const rotate = await mallory.run(['rotate', svc, '--config', lab.configurationUid]);
    expect(rotate.code).toBe(1);
    expect(rotate.stdout + rotate.stderr).toMatch(/names admin credential .* but the Router authorised none/);
    expect(attacker.seen.connections).toBe(0);
    expect(attacker.seen.passwords).toEqual([]);
    expect(lab.gatewayLog()).not.toContain(ADMIN_PASSWORD);
    // Mallory's own password is untouched: nothing was stored as pending either.
    expect(((await mallorySdk.getRecord(svc)).data.fields as { password: string }).password).toBe('Mallory-Old-1!');
  });
});
