/**
 * Roles and enforcement policies through the CLI: a user without a role is refused gateway,
 * rotation and role management (not_allowed, exit 1); a role granting `rotate` and
 * `configure_rotation` lets them set rotation on a record shared to them; only the
 * administrator (the first account) manages roles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import type { VaultClient } from '../../core/vault-client/index.ts';
import { POLICIES } from '../../router/policy/policies.ts';
import { POLICY_INFO } from '../../vault/cli/policies.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser } from './support.ts';

describe('postern role and the enforcement policies', () => {
  let router: TestRouter;
  let admin: CliUser;
  let bob: CliUser;
  let adminSdk: VaultClient;
  let bobSdk: VaultClient;
  let userUid: string;
  let configUid: string;

  beforeAll(async () => {
    router = await startTestRouter();
    admin = new CliUser(router.url, 'admin@example.com');
    bob = new CliUser(router.url, 'bob@example.com');
    // The first account is the administrator.
    await admin.registerWithSdk();
    await bob.registerWithSdk();
    [adminSdk, bobSdk] = await Promise.all([admin.loginWithSdk(), bob.loginWithSdk()]);
    const folder = await adminSdk.addFolder('Ops', { shared: true });
    const app = await adminSdk.createApplication('Gateways');
    const [gateway] = await adminSdk.addApplicationClients(app, { kind: 'gateway', name: 'gw-ops' });
    [configUid, userUid] = await Promise.all([
      adminSdk.addRecord(
        newRecordData('pamConfiguration', 'Ops PAM', {
          environment: 'local',
          gatewayUid: gateway!.deviceUid,
          applicationFolderUid: folder,
          features: { rotation: true },
        }),
        { folderUid: folder },
      ),
      adminSdk.addRecord(newRecordData('pamUser', 'ops svc', { login: 'svc', password: 'canary-ops' }), { folderUid: folder }),
    ]);
    await adminSdk.shareFolder(folder, bob.email, { canEdit: true, canShare: false });
  });
  afterAll(async () => {
    admin?.cleanup();
    bob?.cleanup();
    await router?.stop();
  });

  it('the CLI knows the same policies as the Router, each with its description from the seed', () => {
    expect(POLICY_INFO.map((p) => p.name)).toEqual([...POLICIES]);
    for (const p of POLICY_INFO) expect(p.description).toMatch(/^Allow users to /);
  });

  it('refuses a user without a role: gateways, rotation and role management are not_allowed', async () => {
    const [gatewayList, rotate, rotationSet, roleAdd, bobWho, adminWho, policies, badPolicy] = await Promise.all([
      bob.run(['--json', 'gateway', 'list']),
      bob.run(['--json', 'rotate', 'ops svc', '--config', 'Ops PAM']),
      bob.run(['--json', 'rotation', 'set', 'ops svc', '--config', 'Ops PAM', '--schedule', 'daily@03:00']),
      bob.run(['role', 'add', 'Sneaky', '--policy', 'rotate']),
      bob.ok(['whoami']),
      admin.ok(['--json', 'whoami']),
      admin.ok(['role', 'policies']),
      admin.run(['role', 'add', 'Typo', '--policy', 'rotate,rotate_all']),
    ]);
    for (const [refused, policy] of [
      [gatewayList, 'manage_gateways'],
      [rotate, 'rotate'],
      [rotationSet, 'configure_rotation'],
    ] as const) {
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.error()).toEqual({ code: 'not_allowed', message: expect.stringContaining(`"${policy}" policy`), details: { policy } });
    }
    expect(roleAdd.code).toBe(1);
    expect(roleAdd.stderr).toBe('postern: Only a Postern administrator can manage roles. (not_allowed)\n');
    expect(bobWho.stdout).toMatch(/Administrator\s+no\n/);
    expect(bobWho.stdout).toMatch(/Policies\s+none \(ask a Postern administrator for a role\)\n/);
    expect(adminWho.json()).toMatchObject({ email: admin.email, administrator: true, policies: [...POLICIES].sort() });
    expect(policies.stdout).toMatch(/^POLICY\s+DESCRIPTION$/m);
    expect(policies.stdout).toMatch(/^rotate\s+Allow users to rotate credentials on PAM User Record Types$/m);
    expect(policies.stdout).toMatch(/^manage_gateways\s+Allow users to create, setup, and manage gateways$/m);
    expect(policies.stdout.trim().split('\n')).toHaveLength(POLICIES.length + 1);
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.stderr).toMatch(/^postern: Unknown policy "rotate_all"\. Known: manage_applications, .*run_discovery \(or "all"\)\. \(bad_request\)$/m);
  });

  it('after the administrator grants a role with rotate and configure_rotation, the user sets rotation on a shared record', async () => {
    const [rotators, auditors] = await Promise.all([
      admin.ok(['--json', 'role', 'add', 'Rotators', '--policy', 'rotate', '--policy', 'configure_rotation']),
      admin.ok(['role', 'add', 'Auditors', '--policy', 'view_recordings,view_rbi_recordings']),
    ]);
    expect(rotators.json()).toMatchObject({ roleUid: expect.stringMatching(/^[\w-]{22}$/), name: 'Rotators', policies: ['rotate', 'configure_rotation'] });
    expect(auditors.stdout).toBe('Role "Auditors" created with view_recordings, view_rbi_recordings.\n');
    const [assigned] = await Promise.all([
      admin.ok(['role', 'assign', 'Rotators', '--user', bob.email]),
      admin.ok(['role', 'assign', 'Auditors', '--user', bob.email]),
    ]);
    expect(assigned.stdout).toBe(`${bob.email} now has role "Rotators".\n`);

    const [set, stillNoGateways, stillNoRoles, bobWho, list] = await Promise.all([
      bob.ok(['--json', 'rotation', 'set', 'ops svc', '--config', 'Ops PAM', '--schedule', 'daily@03:00/2', '--tz', 'Europe/London']),
      bob.run(['--json', 'gateway', 'list']),
      bob.run(['--json', 'role', 'assign', 'Rotators', '--user', admin.email]),
      bob.ok(['whoami']),
      admin.ok(['role', 'list']),
    ]);
    expect(set.json()).toMatchObject({
      recordUid: userUid,
      configurationUid: configUid,
      schedule: { kind: 'daily', time: '03:00', timeZone: 'Europe/London', interval: 2 },
      scheduleText: 'every 2 days at 03:00 (Europe/London)',
    });
    expect(stillNoGateways.error().code).toBe('not_allowed');
    expect(stillNoRoles.error()).toMatchObject({ code: 'not_allowed', message: 'Only a Postern administrator can manage roles.' });
    expect(bobWho.stdout).toMatch(/Administrator\s+no\n/);
    expect(bobWho.stdout).toMatch(/Policies\s+configure_rotation, rotate, view_rbi_recordings, view_recordings\n/);
    expect(list.stdout).toMatch(/^ROLE\s+POLICIES\s+MEMBERS$/m);
    expect(list.stdout).toMatch(/^Administrators\s+all \(14\)\s+admin@example\.com$/m);
    expect(list.stdout).toMatch(/^Rotators\s+rotate, configure_rotation\s+bob@example\.com$/m);
    expect(list.stdout).toMatch(/^Auditors\s+view_recordings, view_rbi_recordings\s+bob@example\.com$/m);
  });

  it('updates, unassigns and removes roles, taking the policies away again', async () => {
    // Rotators narrowed to `rotate`; Auditors taken away from bob.
    const [updated, unassigned] = await Promise.all([
      admin.ok(['role', 'update', 'Rotators', '--policy', 'rotate']),
      admin.ok(['role', 'unassign', 'Auditors', '--user', bob.email]),
    ]);
    expect(updated.stdout).toBe('Role "Rotators" now grants rotate.\n');
    expect(unassigned.stdout).toBe(`${bob.email} no longer has role "Auditors".\n`);

    const [clear, show, bobWho, removed, missing] = await Promise.all([
      bob.run(['--json', 'rotation', 'clear', 'ops svc']),
      bob.ok(['rotation', 'show', 'ops svc']),
      bob.ok(['--json', 'whoami']),
      admin.ok(['role', 'remove', 'Auditors']),
      admin.run(['--json', 'role', 'assign', 'Nobody', '--user', bob.email]),
    ]);
    expect(clear.error()).toMatchObject({ code: 'not_allowed', details: { policy: 'configure_rotation' } });
    // Reading the settings needs no policy, only access to the record.
    expect(show.stdout).toMatch(/Schedule\s+every 2 days at 03:00 \(Europe\/London\)\n/);
    expect(show.stdout).toMatch(/As --schedule\s+daily@03:00\/2 --tz Europe\/London\n/);
    expect(bobWho.json()).toMatchObject({ email: bob.email, administrator: false, policies: ['rotate'] });
    expect(removed.stdout).toBe('Role "Auditors" removed.\n');
    expect(missing.error()).toMatchObject({ code: 'not_found', message: expect.stringMatching(/No role named "Nobody"/) });
    expect((await adminSdk.listRoles()).roles.map((r) => r.name)).toEqual(['Administrators', 'Rotators']);
    expect(await bobSdk.myPolicies()).toEqual({ policies: ['rotate'], administrator: false });
  });
});
