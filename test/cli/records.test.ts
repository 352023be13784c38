/**
 * Folders and records through the CLI: add, list, show, edit, attach, download, link; what a
 * second user may not do until a folder is shared to them; and the validation messages.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, removeDir, tempDir } from './support.ts';

const UID = /^[A-Za-z0-9_-]{22}$/;

describe('postern folder and record commands', () => {
  let router: TestRouter;
  let alice: CliUser;
  let bob: CliUser;
  let carol: CliUser;
  let files: string;
  let folderUid: string;
  let userUid: string;
  let machineUid: string;
  let databaseUid: string;
  let fileUid: string;

  beforeAll(async () => {
    router = await startTestRouter();
    alice = new CliUser(router.url, 'alice@example.com');
    bob = new CliUser(router.url, 'bob@example.com');
    carol = new CliUser(router.url, 'carol@example.com');
    files = tempDir('postern-cli-files-');
    // Alice first: the first account is the administrator (she attaches a post-rotation script below).
    await alice.registerWithSdk();
    await Promise.all([bob.registerWithSdk(), carol.registerWithSdk()]);
    // Carol only needs a saved session: the SDK login costs no CLI process.
    await Promise.all([alice.login(), bob.login(), carol.loginWithSdk()]);
  });
  afterAll(async () => {
    alice?.cleanup();
    bob?.cleanup();
    carol?.cleanup();
    if (files) removeDir(files);
    await router?.stop();
  });

  it.concurrent('names the valid types and fields when a --type or --field is unknown', async () => {
    const [type, field] = await Promise.all([
      alice.run(['record', 'add', '--type', 'server', '--title', 'x']),
      alice.run(['--json', 'record', 'add', '--type', 'login', '--title', 'x', '--field', 'hostnme=a']),
    ]);
    expect(type.code).toBe(1);
    expect(type.stderr).toMatch(
      /--type: unknown record type "server" \(valid: login, pamMachine, pamDatabase, pamDirectory, pamRemoteBrowser, pamUser, pamConfiguration\)/,
    );
    expect(field.code).toBe(1);
    expect(field.error()).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/^--field: unknown field "hostnme" for login; valid fields: title, notes, login, password, url/),
    });
  });

  it.concurrent('adds folders and records, lists them and shows a record with secrets masked', async () => {
    const folder = await alice.ok(['--json', 'folder', 'add', 'Production', '--shared']);
    folderUid = folder.json().uid;
    expect(folder.json()).toMatchObject({ uid: expect.stringMatching(UID), name: 'Production', shared: true, parentUid: null });

    const [sub, user] = await Promise.all([
      alice.ok(['folder', 'add', 'Databases', '--shared', '--parent', 'Production']),
      alice.ok(
        ['--json', 'record', 'add', '--type', 'pamUser', '--title', 'db root', '--folder', 'Production', '--field', 'login=root', '--field-stdin', 'password'],
        {
          stdin: 'canary-pw-1\n',
        },
      ),
    ]);
    expect(sub.stdout.trim()).toMatch(UID);
    userUid = user.json().uid;
    expect(user.json()).toMatchObject({ type: 'pamUser', title: 'db root', folderUid });

    const [machine, database] = await Promise.all([
      alice.ok([
        'record',
        'add',
        '--type',
        'pamMachine',
        '--title',
        'web1',
        '--folder',
        folderUid,
        '--field',
        'hostname=web1.internal',
        '--field',
        'port=22',
        '--field',
        'pamSettings.protocol=ssh',
        '--field',
        'NOOP=true',
        '--link',
        userUid,
      ]),
      alice.ok(['record', 'add', '--type', 'pamDatabase', '--title', 'orders db', '--folder', 'Production', '--field', 'hostname=db1', '--field', 'port=5432']),
    ]);
    machineUid = machine.stdout.trim();
    databaseUid = database.stdout.trim();
    expect(machineUid).toMatch(UID);

    const [ls, lsJson, get, getJson, raw] = await Promise.all([
      alice.ok(['ls']),
      alice.ok(['--json', 'ls', 'Production']),
      alice.ok(['get', userUid]),
      alice.ok(['get', machineUid, '--json']),
      alice.ok(['get', userUid, '--field', 'password']),
    ]);
    expect(ls.stdout).toMatch(/FOLDER UID\s+NAME\s+SHARED\s+PERMISSIONS/);
    expect(ls.stdout).toMatch(new RegExp(`${folderUid}\\s+Production\\s+yes\\s+owner`));
    expect(ls.stdout).toMatch(new RegExp(`${machineUid}\\s+pamMachine\\s+web1\\s+Production`));
    expect(ls.stdout).not.toContain('canary-pw-1');
    const listed = lsJson.json();
    expect(listed.folders.map((f: { name: string }) => f.name)).toEqual(['Databases']);
    expect(listed.records.map((r: { uid: string }) => r.uid).sort()).toEqual([userUid, machineUid, databaseUid].sort());

    expect(get.stdout).toMatch(/password\s+\*{8}/);
    expect(get.stdout).not.toContain('canary-pw-1');
    expect(get.stderr).toMatch(/--unmask/);
    expect(raw.stdout).toBe('canary-pw-1\n');
    const shown = getJson.json();
    expect(shown.links).toEqual([{ childUid: userUid, kind: 'admin_credential' }]);
    expect(shown.fields).toEqual(
      expect.arrayContaining([
        { name: 'hostname', value: 'web1.internal' },
        { name: 'port', value: '22' },
        { name: 'pamSettings.protocol', value: 'ssh' },
        { name: 'custom.NOOP', value: 'true' },
      ]),
    );
  });

  it('edits a record, attaches and downloads files, and links a credential', async () => {
    const cert = join(files, 'ca.pem');
    const script = join(files, 'restart.sh');
    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(script, '#!/bin/sh\necho rotated\n');
    // Attaching a file does not change the record's revision, so these do not race.
    const [edit, attached, scriptAttached] = await Promise.all([
      alice.ok(['--json', 'record', 'edit', userUid, '--field', 'login=admin', '--title', 'db admin']),
      alice.ok(['record', 'attach', userUid, cert]),
      alice.ok(['--json', 'record', 'attach', userUid, script, '--script']),
    ]);
    expect(edit.json()).toEqual({ uid: userUid, revision: 2 });
    fileUid = attached.stdout.trim();
    expect(fileUid).toMatch(UID);
    expect(scriptAttached.json()).toMatchObject({ kind: 'script', name: 'restart.sh', recordUid: userUid });

    const out = join(files, 'downloaded.pem');
    const existing = join(files, 'existing.pem');
    writeFileSync(existing, 'keep me');
    const [download, link, again] = await Promise.all([
      alice.ok(['--json', 'record', 'download', fileUid, '--out', out]),
      alice.ok(['--json', 'record', 'link', databaseUid, userUid]),
      alice.run(['record', 'download', fileUid, '--out', existing]),
    ]);
    expect(download.json()).toMatchObject({ fileUid, name: 'ca.pem', path: out });
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(cert, 'utf8'));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(link.json()).toEqual({ parentUid: databaseUid, childUid: userUid, kind: 'admin_credential' });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*--force.*\(conflict\)/);
    expect(readFileSync(existing, 'utf8')).toBe('keep me');
  });

  it('refuses a second user until the folder is shared, then lets them read it', async () => {
    const note = join(files, 'note.txt');
    writeFileSync(note, 'hello');
    const refused = await Promise.all([
      bob.run(['--json', 'get', userUid]),
      bob.run(['--json', 'record', 'edit', userUid, '--field', 'login=mallory']),
      bob.run(['--json', 'record', 'attach', userUid, note]),
      bob.run(['--json', 'record', 'download', fileUid, '--out', join(files, 'stolen.pem')]),
      bob.run(['--json', 'folder', 'share', folderUid, '--user', bob.email, '--can-edit']),
    ]);
    for (const result of refused) {
      expect(result.code).toBe(1);
      expect(result.error().code).toBe('not_allowed');
      expect(result.stdout).toBe('');
    }

    const share = await alice.ok(['--json', 'folder', 'share', 'Production', '--user', bob.email]);
    expect(share.json()).toMatchObject({ folderUid, user: bob.email, canEdit: false, canShare: false });

    const [read, ls, events] = await Promise.all([
      bob.ok(['--json', 'get', userUid, '--unmask']),
      bob.ok(['--json', 'ls']),
      alice.ok(['--json', 'events', '--action', 'folder.share']),
    ]);
    // Bob now sees the record as Alice left it: edited, with both files.
    const record = read.json();
    expect(record).toMatchObject({ uid: userUid, canEdit: false, data: { title: 'db admin', fields: { login: 'admin', password: 'canary-pw-1' } } });
    expect(record.files.map((f: { name: string; kind: string }) => `${f.kind}:${f.name}`).sort()).toEqual(['attachment:ca.pem', 'script:restart.sh']);
    const production = ls.json().folders.find((f: { uid: string }) => f.uid === folderUid);
    expect(production).toMatchObject({ name: 'Production', isOwner: false, canEdit: false, canShare: false });
    expect(events.json().events).toEqual([expect.objectContaining({ action: 'folder.share', actor: alice.email, outcome: 'ok' })]);
  });

  it('lets a member given --can-share share the folder on, and refuses one without it', async () => {
    // Bob was given read-only access above: he cannot share the folder on, so Carol sees nothing.
    const [refused, carolBefore] = await Promise.all([
      bob.run(['--json', 'folder', 'share', folderUid, '--user', carol.email]),
      carol.run(['--json', 'get', userUid]),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.error()).toMatchObject({ code: 'not_allowed', message: expect.stringMatching(/can share/) });
    expect(carolBefore.error().code).toBe('not_allowed');

    // Running the share again for Bob changes his permissions; then he shares on to Carol.
    const upgraded = await alice.ok(['--json', 'folder', 'share', 'Production', '--user', bob.email, '--can-edit', '--can-share']);
    expect(upgraded.json()).toMatchObject({ folderUid, user: bob.email, canEdit: true, canShare: true });
    const onward = await bob.ok(['folder', 'share', 'Production', '--user', carol.email]);
    expect(onward.stdout).toMatch(new RegExp(`Shared folder ${folderUid} with ${carol.email} \\(read-only\\)`));

    const [read, edit, reshare, bobEvents] = await Promise.all([
      carol.ok(['--json', 'get', userUid, '--unmask']),
      carol.run(['--json', 'record', 'edit', userUid, '--field', 'login=carol']),
      carol.run(['--json', 'folder', 'share', 'Production', '--user', alice.email]),
      bob.ok(['--json', 'events', '--action', 'folder.share']),
    ]);
    expect(read.json()).toMatchObject({ uid: userUid, canEdit: false, data: { title: 'db admin', fields: { login: 'admin', password: 'canary-pw-1' } } });
    // Carol, read-only and without can-share, can neither edit nor share on.
    expect(edit.code).toBe(1);
    expect(edit.error().code).toBe('not_allowed');
    expect(reshare.code).toBe(1);
    expect(reshare.error()).toMatchObject({ code: 'not_allowed', message: expect.stringMatching(/can share/) });
    const outcomes = bobEvents.json().events.map((e: { actor: string; outcome: string }) => `${e.actor}:${e.outcome}`);
    expect(outcomes).toEqual(expect.arrayContaining([`${bob.email}:ok`, `${bob.email}:denied`]));
  }, 120_000);
});
