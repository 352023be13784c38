/**
 * A rotation schedule due during the test fires exactly once, through a real gateway, with two
 * Router processes (each running a Head) on one database: a SQLite file, and PostgreSQL when
 * the suite has it. The gateway is connected to one of them; whichever Head wins the claim
 * delivers, directly or over the cluster bus.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import type { RunningRouter } from '../../router/adapters/node/index.ts';
import { LocalBus } from '../../router/cluster/bus.ts';
import { storageBackends } from '../support/router.ts';
import { pamSetup, sharedStorage, sleep, startRouterOn, type PamSetup, type SharedStorage } from './support.ts';

describe.each(storageBackends())('scheduled rotation with two Heads on one database (%s)', (backend) => {
  let storage: SharedStorage;
  const bus = new LocalBus();
  let routerA: RunningRouter;
  let routerB: RunningRouter;
  let pam: PamSetup;

  beforeAll(async () => {
    storage = await sharedStorage(backend);
    routerA = await startRouterOn(storage, { cluster: { workerId: 'router-a', bus } });
    routerB = await startRouterOn(storage, { cluster: { workerId: 'router-b', bus } });
    pam = await pamSetup(routerA.url);
  });
  afterAll(async () => {
    await pam?.gateway.stop();
    await routerA?.close();
    await routerB?.close();
    await storage?.drop();
  });

  const runsOf = (recordUid: string) => routerA.db.selectFrom('schedule_runs').selectAll().where('record_uid', '=', recordUid).orderBy('due_at').execute();
  const rotationsOf = (recordUid: string) => pam.rotations.filter((p) => p['recordUid'] === recordUid);

  it('fires a run-once schedule exactly once, as the rotate action a person would send', async () => {
    const at = Date.now() + 1500;
    const entry = await pam.admin.setRotation(pam.user, { configurationUid: pam.config, schedule: { kind: 'once', at } });
    expect(entry.nextRunAt).toBe(at);

    await expect.poll(() => rotationsOf(pam.user).length, { timeout: 6000, interval: 50 }).toBe(1);
    // Both Heads tick every second; give each a few more chances to fire it again.
    await sleep(2500);
    expect(rotationsOf(pam.user)).toHaveLength(1);

    const [params] = rotationsOf(pam.user);
    expect(Object.keys(params!).sort()).toEqual(['adminCredentialUid', 'configurationUid', 'jobUid', 'recordUid', 'requestedBy', 'resourceUid']);
    expect(params).toMatchObject({ recordUid: pam.user, configurationUid: pam.config });
    expect(JSON.stringify(params)).not.toContain('old-canary');

    const runs = await runsOf(pam.user);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ due_at: at, outcome: 'ok' });
    expect(['router-a', 'router-b']).toContain(runs[0]!.fired_by);
    expect(Number(runs[0]!.fired_at)).toBeGreaterThanOrEqual(at);
    expect((await pam.admin.getRotation(pam.user)).nextRunAt).toBeNull();

    const { job } = await pam.admin.getJob(String(params!['jobUid']));
    expect(job).toMatchObject({ recordUid: pam.user, createdBy: 'schedule', action: 'rotate' });
    const events = (await pam.admin.events({ action: 'action.rotate', recordUid: pam.user })).filter((e) => e.actor === 'schedule');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorKind: 'system', outcome: 'ok', detail: { code: 'ok', schedule: true, dueAt: at, jobUid: params!['jobUid'] } });
  });

  it('fires a per-second cron once per due time, never twice', async () => {
    const user = await pam.admin.addRecord(newRecordData('pamUser', 'every second', { login: 'tick' }), { folderUid: pam.folder });
    await pam.admin.setRotation(user, { configurationUid: pam.config, schedule: { kind: 'cron', expression: '* * * * * *', timeZone: 'UTC' } });
    await expect.poll(() => rotationsOf(user).length, { timeout: 6000, interval: 50 }).toBeGreaterThanOrEqual(3);
    await pam.admin.clearRotation(user);
    // Let a run claimed just before the clear finish, then nothing more may arrive.
    await expect.poll(async () => (await runsOf(user)).every((r) => r.outcome !== 'claimed'), { timeout: 5000 }).toBe(true);
    const settled = rotationsOf(user).length;
    await sleep(1500);
    expect(rotationsOf(user)).toHaveLength(settled);

    const runs = await runsOf(user);
    expect(runs.every((r) => r.outcome === 'ok')).toBe(true);
    expect(runs).toHaveLength(settled);
    const dueTimes = runs.map((r) => Number(r.due_at));
    expect(new Set(dueTimes).size).toBe(dueTimes.length);
    for (const due of dueTimes) expect(due % 1000).toBe(0);
    const jobIds = rotationsOf(user).map((p) => p['jobUid']);
    expect(new Set(jobIds).size).toBe(jobIds.length);
  });
});
