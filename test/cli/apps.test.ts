/**
 * Secrets Manager applications through the CLI (`postern app …`), the device side
 * (`postern secrets …`) and the audit log (`postern events`).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { decodeConfig } from '../../core/secrets-client/index.ts';
import { VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, removeDir, runCli, tempDir } from './support.ts';

const UID = /^[A-Za-z0-9_-]{22}$/;

describe('postern app, secrets and events commands', () => {
  let router: TestRouter;
  let alice: CliUser;
  let device: string;
  let sharedUid: string;
  let privateUid: string;
  let appUid: string;

  beforeAll(async () => {
    router = await startTestRouter();
    alice = new CliUser(router.url, 'alice@example.com');
    device = tempDir('postern-cli-device-');
    await alice.registerWithSdk();
    // The vault content is set up through the SDK (folder and record commands have their own suite).
    const [sdk] = await Promise.all([VaultClient.login(await VaultTransport.connect(router.url), alice.email, alice.password), alice.login()]);
    const [ci, vaultOnly] = await Promise.all([sdk.addFolder('CI', { shared: true }), sdk.addFolder('Vault only', { shared: true })]);
    sharedUid = await sdk.addRecord(newRecordData('login', 'registry', { login: 'ci', password: 'canary-ci-1' }), { folderUid: ci });
    privateUid = await sdk.addRecord(newRecordData('login', 'root', { password: 'canary-root' }), { folderUid: vaultOnly });
  });
  afterAll(async () => {
    alice?.cleanup();
    if (device) removeDir(device);
    await router?.stop();
  });

  it('creates an application, shares a folder to it and manages its clients', async () => {
    const [created, badExpiry, badFormat] = await Promise.all([
      alice.ok(['--json', 'app', 'create', 'ci']),
      alice.run(['app', 'client', 'add', '--app', 'ci', '--first-access-expires-in-min', '5000']),
      alice.run(['app', 'client', 'add', '--app', 'ci', '--config-init', 'yaml']),
    ]);
    appUid = created.json().uid;
    expect(appUid).toMatch(UID);
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toMatch(/--first-access-expires-in-min.*'5000'.*from 1 to 1440/);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toMatch(/--config-init.*json, b64/);

    const [share, three] = await Promise.all([
      alice.ok(['--json', 'app', 'share', 'CI', '--app', 'ci', '--can-edit']),
      alice.ok(['--json', 'app', 'client', 'add', '--app', 'ci', '--count', '3', '--name', 'runner']),
    ]);
    expect(share.json()).toMatchObject({ appUid, canEdit: true });
    const clients = three.json().clients as { deviceUid: string; name: string; token: string }[];
    expect(clients).toHaveLength(3);
    expect(clients.map((c) => c.name)).toEqual(['runner-1', 'runner-2', 'runner-3']);
    expect(new Set(clients.map((c) => c.token)).size).toBe(3);
    for (const c of clients) expect(c.token).toMatch(/^127\.0\.0\.1:\d+:[A-Za-z0-9_-]{43}$/);
    expect(three.stderr).toMatch(/secrets init --token/);

    // runner-2's token is redeemed on the device with `secrets init`: a private file.
    const file = join(device, 'postern.json');
    const [list, listJson, removed, init] = await Promise.all([
      alice.ok(['app', 'list']),
      alice.ok(['--json', 'app', 'list']),
      alice.ok(['--json', 'app', 'client', 'remove', '--app', appUid, '--client', clients[0]!.deviceUid]),
      runCli(['--json', 'secrets', 'init', '--token', clients[1]!.token, '--config', file], { home: device }),
    ]);
    expect(list.stdout).toMatch(new RegExp(`${appUid}\\s+ci\\s+\\S+\\s+CI \\(edit\\)`));
    expect(listJson.json().applications).toEqual([
      expect.objectContaining({ uid: appUid, name: 'ci', folders: [expect.objectContaining({ name: 'CI', canEdit: true })] }),
    ]);
    expect(removed.json()).toMatchObject({ removed: true, deviceUid: clients[0]!.deviceUid });
    expect(init.code).toBe(0);
    expect(init.json()).toMatchObject({ path: file, appUid, deviceUid: clients[1]!.deviceUid });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(decodeConfig(readFileSync(file, 'utf8')).appUid).toBe(appUid);

    const [listed, human, again, got] = await Promise.all([
      alice.ok(['--json', 'app', 'client', 'list', '--app', 'ci']),
      alice.ok(['app', 'client', 'list', '--app', 'ci']),
      runCli(['secrets', 'init', '--token', clients[2]!.token, '--config', file], { home: device }),
      runCli(['secrets', 'get', sharedUid, '--field', 'password', '--config', file], { home: device }),
    ]);
    const statuses = Object.fromEntries(listed.json().clients.map((c: { name: string; status: string }) => [c.name, c.status]));
    expect(statuses).toEqual({ 'runner-1': 'removed', 'runner-2': 'active', 'runner-3': 'token not used yet' });
    expect(human.stdout).toMatch(/DEVICE UID\s+NAME\s+STATUS/);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*--force.*\(conflict\)/);
    expect(got.stdout).toBe('canary-ci-1\n');
    // Thirteen CLI processes in four rounds: on the loaded shared machine this took 50 s once and hit the 60 s default once.
  }, 120_000);

  it('hands a ready configuration to a device: it sees only what the app was given, and can update it', async () => {
    const init = await alice.ok(['app', 'client', 'add', '--app', 'ci', '--unlock-ip', '--config-init', 'b64']);
    expect(init.stderr).toMatch(/as sensitive as a password/);
    const config = init.stdout.trim();
    expect(config).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(decodeConfig(config).appUid).toBe(appUid);
    const env = { POSTERN_SECRETS_CONFIG: config };

    // The update only changes the password, which none of the reads below shows: they may run together.
    const [list, human, field, denied, update] = await Promise.all([
      runCli(['--json', 'secrets', 'get'], { home: device, env }),
      runCli(['secrets', 'get', sharedUid], { home: device, env }),
      runCli(['secrets', 'get', sharedUid, '--field', 'login'], { home: device, env }),
      runCli(['--json', 'secrets', 'get', privateUid], { home: device, env }),
      runCli(['--json', 'secrets', 'update', sharedUid, '--field-stdin', 'password'], { home: device, env, stdin: 'canary-ci-2\n' }),
    ]);
    expect(list.code).toBe(0);
    expect(list.json().records).toEqual([expect.objectContaining({ uid: sharedUid, title: 'registry', type: 'login' })]);
    expect(human.stdout).toMatch(/password\s+\*{8}/);
    expect(human.stdout).not.toContain('canary-ci-1');
    expect(field.stdout).toBe('ci\n');
    expect(denied.code).toBe(1);
    expect(denied.error().code).toBe('not_allowed');

    expect(update.code).toBe(0);
    expect(update.json()).toEqual({ uid: sharedUid, revision: 2 });
  });

  it("shows the owner the device's update, and lists logins, record changes, shares and device access in the audit log", async () => {
    const [seen, all, human, forRecord] = await Promise.all([
      alice.ok(['get', sharedUid, '--field', 'password']),
      alice.ok(['--json', 'events', '--limit', '200']),
      alice.ok(['events', '--limit', '5']),
      alice.ok(['--json', 'events', '--record', sharedUid]),
    ]);
    expect(seen.stdout).toBe('canary-ci-2\n');
    const events = all.json().events as { action: string; actor: string; actorKind: string; outcome: string; recordUid: string | null }[];
    const actions = new Set(events.map((e) => e.action));
    for (const action of ['account.login', 'record.add', 'app.share', 'app.client.add', 'secrets.get_secret', 'secrets.update_secret'])
      expect(actions).toContain(action);
    expect(events).toContainEqual(expect.objectContaining({ action: 'secrets.get_secret', actorKind: 'device', outcome: 'denied' }));
    expect(events).toContainEqual(expect.objectContaining({ action: 'secrets.get_secret', actorKind: 'device', recordUid: sharedUid, outcome: 'ok' }));
    expect(human.stdout).toMatch(/^TIME\s+ACTOR\s+ACTION\s+RECORD\s+IP\s+OUTCOME\n/);
    expect(human.stdout.trim().split('\n')).toHaveLength(6);
    const about = forRecord.json().events as { recordUid: string; action: string }[];
    expect(about.length).toBeGreaterThan(0);
    expect(about.every((e) => e.recordUid === sharedUid)).toBe(true);
    expect(about.map((e) => e.action)).toContain('secrets.update_secret');
  });

  it('prints a JSON device configuration with --config-init json that `secrets … --config` uses, and enforces --access-expire-in-min', async () => {
    const before = Date.now();
    const init = await alice.ok(['app', 'client', 'add', '--app', 'ci', '--name', 'json-device', '--config-init', 'json', '--access-expire-in-min', '30']);
    const after = Date.now();
    expect(init.stderr).toMatch(/as sensitive as a password/);
    expect(init.stderr).toMatch(/locked to this machine's IP address.*--unlock-ip/);
    // Human mode prints the configuration itself, as JSON, ready for a file or POSTERN_SECRETS_CONFIG.
    const config = JSON.parse(init.stdout) as { server: string; appUid: string; deviceUid: string };
    expect(config).toMatchObject({ server: router.url, appUid, deviceUid: expect.stringMatching(UID) });
    expect(decodeConfig(init.stdout)).toEqual(decodeConfig(JSON.stringify(config)));
    const file = join(device, 'json-device.json');
    writeFileSync(file, init.stdout, { mode: 0o600 });

    const [got, fromEnv, listed, human] = await Promise.all([
      runCli(['secrets', 'get', sharedUid, '--field', 'login', '--config', file], { home: device }),
      runCli(['secrets', 'get', sharedUid, '--field', 'login'], { home: device, env: { POSTERN_SECRETS_CONFIG: init.stdout } }),
      alice.ok(['--json', 'app', 'client', 'list', '--app', 'ci']),
      alice.ok(['app', 'client', 'list', '--app', 'ci']),
    ]);
    expect(got.code).toBe(0);
    expect(got.stderr).toBe('');
    expect(got.stdout).toBe('ci\n');
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toBe('ci\n');
    type Listed = { deviceUid: string; name: string; status: string; accessExpiresAt: string | null; ipLock: boolean };
    const entry = (listed.json().clients as Listed[]).find((c) => c.deviceUid === config.deviceUid)!;
    expect(entry).toMatchObject({ name: 'json-device', status: 'active', ipLock: true });
    const expiresAt = Date.parse(entry.accessExpiresAt!);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 60_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 30 * 60_000);
    expect(human.stdout).toMatch(new RegExp(`${config.deviceUid}\\s+json-device\\s+active\\s.*\\s${entry.accessExpiresAt}\\n`));
    // Devices added without the option never expire.
    expect((listed.json().clients as Listed[]).find((c) => c.name === 'runner-2')!.accessExpiresAt).toBeNull();

    // Once that time has passed (moved here rather than waited for), the device is refused.
    await router.db
      .updateTable('devices')
      .set({ access_expires_at: Date.now() - 1 })
      .where('uid', '=', config.deviceUid)
      .execute();
    const [expired, relisted] = await Promise.all([
      runCli(['--json', 'secrets', 'get', '--config', file], { home: device }),
      alice.ok(['--json', 'app', 'client', 'list', '--app', 'ci']),
    ]);
    expect(expired.code).toBe(1);
    expect(expired.stdout).toBe('');
    expect(expired.error().code).toBe('access_expired');
    expect((relisted.json().clients as Listed[]).find((c) => c.deviceUid === config.deviceUid)!.status).toBe('access expired');
  }, 120_000);
});
