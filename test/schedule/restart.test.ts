/**
 * Schedules are stored, not held in memory: a Router restarted on the same data fires a schedule
 * set before the restart at its time, and fires a schedule that came due while it was down once
 * (not once per missed slot), then carries on with its calendar.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { nextRunAfter } from '../../core/schedule/next-run.ts';
import { openStorage, parseStorageLocation, type RunningRouter } from '../../router/adapters/node/index.ts';
import { storageBackends } from '../support/router.ts';
import { pamSetup, sharedStorage, sleep, startRouterOn, type PamSetup, type SharedStorage } from './support.ts';

const DAY = 86_400_000;

describe.each(storageBackends())('rotation schedules across a Router restart (%s)', (backend) => {
  let storage: SharedStorage;
  let router: RunningRouter | undefined;
  let pam: PamSetup;

  beforeAll(async () => {
    storage = await sharedStorage(backend);
    router = await startRouterOn(storage);
    pam = await pamSetup(router.url);
  });
  afterAll(async () => {
    await pam?.gateway.stop();
    await router?.close();
    await storage?.drop();
  });

  const rotationsOf = (recordUid: string) => pam.rotations.filter((p) => p['recordUid'] === recordUid);

  it('fires after the restart: the pending schedule at its time, the missed one once', async () => {
    const daily = { kind: 'daily' as const, time: '03:00', timeZone: 'UTC', interval: 1 };
    const missed = await pam.admin.addRecord(newRecordData('pamUser', 'missed', { login: 'missed' }), { folderUid: pam.folder });
    await pam.admin.setRotation(missed, { configurationUid: pam.config, schedule: daily });
    const at = Date.now() + 3000;
    await pam.admin.setRotation(pam.user, { configurationUid: pam.config, schedule: { kind: 'once', at } });

    const port = router!.port;
    await router!.close();
    router = undefined;
    // While it is down, the daily schedule's due time slips three days into the past.
    const firstMissed = Date.now() - 3 * DAY;
    const offline = await openStorage(parseStorageLocation(storage.database));
    await offline.updateTable('rotation_schedules').set({ next_run_at: firstMissed }).where('record_uid', '=', missed).execute();
    await offline.destroy();
    await sleep(300);
    expect(pam.rotations).toEqual([]);

    router = await startRouterOn(storage, { port });
    const restartedAt = Date.now();
    await pam.gateway.whenOnline();

    // The missed schedule fires right after start, once.
    await expect.poll(() => rotationsOf(missed).length, { timeout: 5000, interval: 50 }).toBe(1);
    const missedRuns = await router.db.selectFrom('schedule_runs').selectAll().where('record_uid', '=', missed).execute();
    expect(missedRuns).toHaveLength(1);
    expect(missedRuns[0]).toMatchObject({ due_at: firstMissed });
    const next = Number(
      (await router.db.selectFrom('rotation_schedules').select('next_run_at').where('record_uid', '=', missed).executeTakeFirstOrThrow()).next_run_at,
    );
    expect(next).toBe(nextRunAfter(daily, Number(missedRuns[0]!.fired_at)));
    expect(next).toBeGreaterThan(restartedAt);
    expect(next).toBeLessThanOrEqual(restartedAt + DAY);

    // The run-once schedule fires at its time, not before, and once.
    await expect.poll(() => rotationsOf(pam.user).length, { timeout: 6000, interval: 50 }).toBe(1);
    const [run] = await router.db.selectFrom('schedule_runs').selectAll().where('record_uid', '=', pam.user).execute();
    expect(run).toMatchObject({ due_at: at });
    expect(Number(run!.fired_at)).toBeGreaterThanOrEqual(at);
    await expect.poll(async () => (await router!.db.selectFrom('schedule_runs').select('outcome').execute()).map((r) => r.outcome)).toEqual(['ok', 'ok']);
    await sleep(1200);
    expect(rotationsOf(missed)).toHaveLength(1);
    expect(rotationsOf(pam.user)).toHaveLength(1);
  });
});
