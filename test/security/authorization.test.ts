/**
 * Attacks by ordinary users with partial rights, against a real Router over HTTP, through the
 * real CLI where a person would use it and through the raw transport where an attacker would
 * skip the CLI's own checks. Each refusal is the Router's (docs/threat-model.md names the roles).
 *
 * The cast: `admin` (the first account: administrator, owner of the shared folders), `mallory`
 * (an editor of the team folder with the rotate and configure_rotation policies: the attacker),
 * `bob` (editor and sharer of the team folder), `carol` (may share, may not edit), `eve` (viewer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { newRecordData } from '../../core/records/index.ts';
import { VaultTransport, type VaultClient } from '../../core/vault-client/index.ts';
import { CliUser } from '../cli/support.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';

const blob = () => toBase64Url(randomBytes(60));
const newUid = () => toBase64Url(randomBytes(16));
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'succeeded',
    (e: { code?: string }) => e.code ?? String(e),
  );

describe('authorization: what a user with partial rights cannot do', () => {
  let router: TestRouter;
  let transport: VaultTransport;
  const users: Record<'admin' | 'mallory' | 'bob' | 'carol' | 'eve', CliUser> = {} as never;
  const sdk: Record<keyof typeof users, VaultClient> = {} as never;
  let team: string; // shared folder: mallory, bob edit; carol share-only; eve view
  let vaultFolder: string; // shared folder only the admin is in: the admin credential lives here
  let gatewayUid: string;
  let configUid: string;
  let adminCredential: string;
  let victimResource: string; // admin's resource in the team folder, linked to adminCredential
  let mallorysUser: string;

  beforeAll(async () => {
    router = await startTestRouter();
    transport = await VaultTransport.connect(router.url);
    for (const name of ['admin', 'mallory', 'bob', 'carol', 'eve'] as const) {
      users[name] = new CliUser(router.url, `${name}@example.com`);
      await users[name].registerWithSdk();
      sdk[name] = await users[name].loginWithSdk();
    }
    const admin = sdk.admin;
    team = await admin.addFolder('Team', { shared: true });
    vaultFolder = await admin.addFolder('Admins only', { shared: true });
    await admin.shareFolder(team, 'mallory@example.com', { canEdit: true, canShare: false });
    await admin.shareFolder(team, 'bob@example.com', { canEdit: true, canShare: true });
    await admin.shareFolder(team, 'carol@example.com', { canEdit: false, canShare: true });
    await admin.shareFolder(team, 'eve@example.com', { canEdit: false, canShare: false });
    const app = await admin.createApplication('Gateways');
    await admin.shareFolderToApplication(app, team, true);
    await admin.shareFolderToApplication(app, vaultFolder, false);
    gatewayUid = (await admin.addApplicationClients(app, { kind: 'gateway', name: 'gw' }))[0]!.deviceUid;
    configUid = await admin.addRecord(
      newRecordData('pamConfiguration', 'Team PAM', { environment: 'local', gatewayUid, applicationFolderUid: team, features: { rotation: true } }),
      { folderUid: team },
    );
    adminCredential = await admin.addRecord(newRecordData('pamUser', 'root of prod', { login: 'root', password: 'admin-canary-password' }), {
      folderUid: vaultFolder,
    });
    victimResource = await admin.addRecord(
      newRecordData('pamMachine', 'prod web', { hostname: '127.0.0.1', port: 22, pamSettings: { adminCredentialUid: adminCredential } }),
      { folderUid: team },
    );
    mallorysUser = await sdk.mallory.addRecord(newRecordData('pamUser', 'mallory svc', { login: 'svc', password: 'mallory-old' }), { folderUid: team });
    await users.admin.ok(['role', 'add', 'Rotators', '--policy', 'rotate', '--policy', 'configure_rotation']);
    await users.admin.ok(['role', 'assign', 'Rotators', '--user', 'mallory@example.com']);
  });
  afterAll(async () => {
    await router?.stop();
    for (const u of Object.values(users)) u.cleanup();
  });

  const as = (who: keyof typeof users) => (command: Parameters<VaultTransport['call']>[0], body: object) =>
    transport.call(command, body as never, sdk[who].session.sessionToken);

  describe('post-rotation scripts (item 1)', () => {
    // threat model (docs/threat-model.md): editor
    it('refuses an editor attaching a script, through the CLI and the raw API, and does not let them approve one', async () => {
      const cli = await users.mallory.run(['record', 'attach', mallorysUser, 'package.json', '--script']);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/manage_rotation_scripts.*\(not_allowed\)/);
      expect(await codeOf(sdk.mallory.uploadFile(mallorysUser, { name: 'x.sh', bytes: new TextEncoder().encode('id'), kind: 'script' }))).toBe('not_allowed');
      // A plain attachment is still theirs to add.
      const attachment = await sdk.mallory.uploadFile(mallorysUser, { name: 'notes.txt', bytes: new TextEncoder().encode('#!/bin/sh\nid\n') });
      expect(await codeOf(sdk.mallory.approveScript(attachment))).toBe('not_allowed');
      const record = await sdk.mallory.getRecord(mallorysUser);
      expect(record.files.filter((f) => f.kind === 'script')).toEqual([]);
    });

    it('lets a holder of manage_rotation_scripts attach one, approved, and shows it as approved', async () => {
      await users.admin.ok(['record', 'attach', mallorysUser, 'package.json', '--script', '--name', 'notify.sh']);
      const shown = await users.mallory.ok(['get', mallorysUser]);
      expect(shown.stdout).toMatch(/post-rotation script \(approved\)\s+notify\.sh/);
      const [script] = (await sdk.mallory.getRecord(mallorysUser)).files.filter((f) => f.kind === 'script');
      expect(script?.approved).toMatchObject({ by: sdk.admin.session.userUid });
    });
  });

  describe('admin credentials (item 2)', () => {
    // threat model (docs/threat-model.md): editor
    it('will not link, or let a rotation use, an admin credential the requester cannot read', async () => {
      // Mallory's own resource naming the admin's credential: the link that would authorise it is refused.
      const attempt = sdk.mallory.addRecord(
        newRecordData('pamMachine', 'mallory host', { hostname: '127.0.0.1', port: 2222, pamSettings: { adminCredentialUid: adminCredential } }),
        { folderUid: team },
      );
      expect(await codeOf(attempt)).toBe('not_allowed');
      expect(await codeOf(as('mallory')('record.link', { parentUid: victimResource, childUid: adminCredential, kind: 'admin_credential' }))).toBe(
        'not_allowed',
      );
      // The admin's own resource, which Mallory can read, uses that credential: Mallory cannot rotate through it.
      await sdk.admin.linkRecords(victimResource, mallorysUser, 'credential');
      const outcome = await codeOf(sdk.mallory.sendAction({ action: 'rotate', recordUid: mallorysUser, configurationUid: configUid }));
      expect(outcome).toBe('not_allowed');
      const denied = (await sdk.mallory.events({ action: 'action.send' })).filter((e) => e.outcome === 'denied');
      expect(denied.length).toBeGreaterThan(0);
    });
  });

  describe('action parameters (item 3)', () => {
    // threat model (docs/threat-model.md): editor
    it('refuses every parameter the Router sets itself, whatever the action', async () => {
      const cases: [string, Record<string, unknown>][] = [
        ['rotate', { resourceUid: victimResource }],
        ['rotate', { adminCredentialUid: adminCredential }],
        ['rotate', { recordUid: adminCredential }],
        ['rotate', { configurationUid: configUid }],
        ['rotate', { jobUid: newUid() }],
        ['rotate', { requestedBy: sdk.admin.session.userUid }],
        ['rotate', { resume: 'yes' }],
      ];
      for (const [action, params] of cases) {
        const err = await sdk.mallory
          .sendAction({ action, recordUid: mallorysUser, configurationUid: configUid, params: params as never })
          .catch((e: { code: string; message: string }) => e);
        expect((err as { code?: string }).code, JSON.stringify(params)).toBe('bad_request');
      }
      const unknownKey = await sdk.mallory
        .sendAction({ action: 'rotate', recordUid: mallorysUser, configurationUid: configUid, params: { resourceUid: victimResource } })
        .catch((e: Error) => e);
      expect((unknownKey as Error).message).toMatch(/does not take the parameter\(s\) resourceUid; it takes resume/);
    });

    // threat model (docs/threat-model.md): editor
    it('refuses a resource named beside the action that the requester cannot read, and a resource for an action that takes none', async () => {
      const hidden = await sdk.admin.addRecord(newRecordData('pamMachine', 'hidden', { hostname: '127.0.0.1', port: 22 }), { folderUid: vaultFolder });
      expect(await codeOf(sdk.mallory.sendAction({ action: 'rotate', recordUid: mallorysUser, configurationUid: configUid, resourceUid: hidden }))).toBe(
        'not_allowed',
      );
      expect(await codeOf(sdk.mallory.sendAction({ action: 'gateway-info', gatewayUid, params: { recordUid: mallorysUser } }))).toBe('not_allowed');
    });
  });

  describe('folder membership (item 8)', () => {
    // threat model (docs/threat-model.md): can-share member
    it('refuses a can-share member demoting a member with more rights, and never replaces a wrapped key', async () => {
      const bobUid = sdk.bob.session.userUid;
      const eveUid = sdk.eve.session.userUid;
      // Carol (share, no edit) tries to take Bob's edit right away.
      expect(await codeOf(as('carol')('folder.share', { folderUid: team, userUid: bobUid, wrappedFolderKey: blob(), canEdit: false, canShare: false }))).toBe(
        'not_allowed',
      );
      // Carol may change Eve (a viewer, fewer rights than hers), but the garbage key she sends is not stored.
      await as('carol')('folder.share', { folderUid: team, userUid: eveUid, wrappedFolderKey: blob(), canEdit: false, canShare: true });
      const eveView = await sdk.eve.sync();
      expect(eveView.folders.find((f) => f.uid === team)).toMatchObject({ canShare: true, canEdit: false });
      expect(eveView.records.some((r) => r.uid === victimResource)).toBe(true);
      // Bob keeps his rights and can still open the folder.
      const bobView = await sdk.bob.sync();
      expect(bobView.folders.find((f) => f.uid === team)).toMatchObject({ canEdit: true, canShare: true });
      // Bob (edit + share) may change Carol (share only): his rights cover hers.
      await sdk.bob.shareFolder(team, 'carol@example.com', { canEdit: false, canShare: false });
      expect((await sdk.carol.sync()).folders.find((f) => f.uid === team)).toMatchObject({ canShare: false });
    });
  });

  describe('enforcement policies where their action is performed (item 14)', () => {
    // threat model (docs/threat-model.md): editor
    it('refuses applications without manage_applications and PAM features without their configure policy', async () => {
      const app = await users.bob.run(['app', 'create', 'Bob app']);
      expect(app.code).toBe(1);
      expect(app.stderr).toMatch(/manage_applications.*\(not_allowed\)/);
      expect(await codeOf(as('bob')('app.create', { appUid: newUid(), appKey: blob(), data: blob() }))).toBe('not_allowed');
      // With a role to manage applications and gateways, and configure_rotation, Bob runs his own
      // gateway; switching tunneling on still takes configure_tunnels.
      await users.admin.ok(['role', 'add', 'Gateway operators', '--policy', 'manage_applications,manage_gateways,configure_rotation']);
      await users.admin.ok(['role', 'assign', 'Gateway operators', '--user', 'bob@example.com']);
      const bobApp = await sdk.bob.createApplication('Bob gateways');
      const [bobGateway] = await sdk.bob.addApplicationClients(bobApp, { kind: 'gateway', name: 'bob-gw' });
      const fields = { environment: 'local', gatewayUid: bobGateway!.deviceUid, applicationFolderUid: team, features: { rotation: true } };
      const bobConfig = await sdk.bob.addRecord(newRecordData('pamConfiguration', 'bob cfg', fields), { folderUid: team });
      const tunnels = sdk.bob.updateRecord(bobConfig, (d) => ({ ...d, fields: { ...d.fields, features: { rotation: true, tunneling: true } } }) as typeof d);
      const refused = await tunnels.catch((e: Error) => e);
      expect((refused as { code?: string }).code).toBe('not_allowed');
      expect((refused as Error).message).toMatch(/configure_tunnels/);
    });
  });
});
