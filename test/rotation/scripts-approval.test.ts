/**
 * Post-rotation scripts end to end: a real Router, the real `postern` CLI and a real
 * `postern-gateway` process. The gateway runs a script only when the Router signed an
 * approval for exactly that file, record and content; whatever reaches the gateway otherwise
 * (a file turned into a script in the database, an approval copied from another script) is
 * reported and not run. An administrator's `postern record approve-script` makes it run.
 *
 * NOOP rotations (no target is changed), so the suite needs no server besides the Router.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUid } from '../../core/ids.ts';
import { newRecordData } from '../../core/records/index.ts';
import { RotationLab } from './lab.ts';

describe('post-rotation scripts run only when an administrator approved them (CLI, gateway, Router)', () => {
  let lab: RotationLab;
  // Scripts run as an unprivileged account when the gateway is root: they report here.
  const shared = mkdtempSync(join(tmpdir(), 'postern-scripts-e2e-'));
  chmodSync(shared, 0o1777);

  beforeAll(async () => {
    lab = await RotationLab.start('scripts');
    await lab.startGateway();
  });

  afterAll(async () => {
    await lab?.close();
    rmSync(shared, { recursive: true, force: true });
  });

  async function noopUser(): Promise<string> {
    return lab.vault.addRecord(
      newRecordData('pamUser', `noop ${newUid()}`, { login: 'app', password: 'Script-Canary-Initial-1!' }, [{ label: 'NOOP', value: 'true' }]),
      {
        folderUid: lab.folderUid,
      },
    );
  }

  /** Attaches through the CLI a script that leaves a marker when it runs; returns its file UID and marker. */
  async function attach(recordUid: string, name: string, kind: 'script' | 'attachment'): Promise<{ fileUid: string; marker: string }> {
    const marker = join(shared, `ran-${name}-${newUid()}`);
    const path = join(shared, name);
    writeFileSync(path, `#!/bin/sh\ntouch '${marker}'\n`);
    const attached = await lab.admin.ok(['--json', 'record', 'attach', recordUid, path, ...(kind === 'script' ? ['--script'] : [])]);
    return { fileUid: (attached.json() as { fileUid: string }).fileUid, marker };
  }

  // threat model (docs/threat-model.md): database-only attacker
  it('does not run a file made a script in the database, nor one wearing another script’s approval; runs it once approved', async () => {
    const userUid = await noopUser();
    const approved = await attach(userUid, 'approved.sh', 'script');
    // Anyone who may edit the record may attach a plain file; the attacker then turns it into a script.
    const smuggled = await attach(userUid, 'smuggled.sh', 'attachment');
    await lab.router.db.updateTable('files').set({ kind: 'script' }).where('uid', '=', smuggled.fileUid).execute();

    const unapproved = await lab.rotate(userUid);
    expect(unapproved.code, unapproved.stdout + unapproved.stderr).toBe(0);
    expect(unapproved.stdout).toContain('"smuggled.sh" was not run: it is not approved by an administrator');
    expect(unapproved.stdout).toContain(`postern record approve-script ${smuggled.fileUid}`);
    expect(existsSync(smuggled.marker)).toBe(false);
    expect(existsSync(approved.marker)).toBe(true);

    // The approval of the legitimate script, copied onto the smuggled one.
    const source = await lab.router.db
      .selectFrom('files')
      .select(['approved_by', 'approved_at', 'approval_signature'])
      .where('uid', '=', approved.fileUid)
      .executeTakeFirstOrThrow();
    expect(source.approval_signature).not.toBeNull();
    await lab.router.db.updateTable('files').set(source).where('uid', '=', smuggled.fileUid).execute();
    const copied = await lab.rotate(userUid);
    expect(copied.stdout).toContain('"smuggled.sh" was not run: its approval does not match it');
    expect(existsSync(smuggled.marker)).toBe(false);

    // An administrator reviews it and approves it: now it runs.
    await lab.admin.ok(['record', 'approve-script', smuggled.fileUid]);
    const reviewed = await lab.rotate(userUid);
    expect(reviewed.code, reviewed.stdout + reviewed.stderr).toBe(0);
    expect(reviewed.stdout).toContain('Post-rotation scripts: 2 of 2 succeeded.');
    expect(existsSync(smuggled.marker)).toBe(true);
  });

  it('a gateway whose configuration predates the pinned signing key fetches it at start, warns, and checks approvals with it', async () => {
    const configPath = join(lab.gatewayHome, 'gateway-config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    expect(typeof config['routerSigningKey']).toBe('string');
    delete config['routerSigningKey'];
    writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
    await lab.startGateway();

    const userUid = await noopUser();
    const approved = await attach(userUid, 'approved.sh', 'script');
    const smuggled = await attach(userUid, 'smuggled.sh', 'attachment');
    await lab.router.db.updateTable('files').set({ kind: 'script' }).where('uid', '=', smuggled.fileUid).execute();
    const run = await lab.rotate(userUid);
    expect(run.stdout).toContain('"smuggled.sh" was not run: it is not approved by an administrator');
    expect(existsSync(approved.marker)).toBe(true);
    expect(existsSync(smuggled.marker)).toBe(false);
    expect(lab.gatewayLog()).toContain('does not pin the Router signing key');
  });
});
