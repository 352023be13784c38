/**
 * A schedule acts as its owner, checked at every run exactly as the owner's own `rotate` would
 * be: when the owner loses the `rotate` policy (or the PAM configuration stops allowing
 * rotation), the run is recorded as denied, audited, and the gateway receives nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { POLICIES } from '../../router/policy/policies.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../support/router.ts';
import { pamSetup, sleep, type PamSetup } from './support.ts';

describe.each(storageBackends())('scheduled rotation refused for its owner (%s)', (backend) => {
  let router: TestRouter;
  let pam: PamSetup;

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    pam = await pamSetup(router.url);
  });
  afterAll(async () => {
    await pam?.gateway.stop();
    await router?.stop();
  });

  const runOutcomes = async (recordUid: string) =>
    (await router.db.selectFrom('schedule_runs').select('outcome').where('record_uid', '=', recordUid).execute()).map((r) => r.outcome);

  it('records a denied run and an audit event when the owner lost the rotate policy; the gateway gets nothing', async () => {
    const at = Date.now() + 1500;
    await pam.admin.setRotation(pam.user, { configurationUid: pam.config, schedule: { kind: 'once', at } });
    // The first account is the administrator; its role loses `rotate` before the run is due.
    await pam.admin.updateRole(
      'Administrators',
      POLICIES.filter((p) => p !== 'rotate'),
    );
    expect((await pam.admin.myPolicies()).policies).not.toContain('rotate');

    await expect.poll(() => runOutcomes(pam.user), { timeout: 6000, interval: 50 }).toEqual(['denied']);
    await sleep(1200);
    expect(await runOutcomes(pam.user)).toEqual(['denied']);
    expect(pam.rotations).toEqual([]);
    expect(await pam.admin.listJobs()).toEqual([]);

    const events = await pam.admin.events({ action: 'action.rotate', recordUid: pam.user });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actorKind: 'system',
      actor: 'schedule',
      outcome: 'denied',
      detail: { code: 'not_allowed', schedule: true, dueAt: at, reason: 'rotate' },
    });
    await pam.admin.updateRole('Administrators', [...POLICIES]);
  });

  it('records a denied run when the PAM configuration no longer allows rotation', async () => {
    const user = await pam.admin.addRecord(newRecordData('pamUser', 'second', { login: 'second' }), { folderUid: pam.folder });
    const at = Date.now() + 1500;
    await pam.admin.setRotation(user, { configurationUid: pam.config, schedule: { kind: 'once', at } });
    await pam.admin.updateRecord(pam.config, (d) => ({ ...d, fields: { ...d.fields, features: { ...(d.fields['features'] as object), rotation: false } } }));

    await expect.poll(() => runOutcomes(user), { timeout: 6000, interval: 50 }).toEqual(['denied']);
    expect(pam.rotations).toEqual([]);
    const [event] = await pam.admin.events({ action: 'action.rotate', recordUid: user });
    expect(event).toMatchObject({ actor: 'schedule', outcome: 'denied', detail: { code: 'not_allowed', reason: 'rotation' } });
  });
});
