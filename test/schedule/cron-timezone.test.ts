/**
 * `rotation set` with a cron schedule in a time zone: the Router stores it and computes the next
 * instant in that zone (checked independently with Intl), and refuses what could never run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextRunAfter } from '../../core/schedule/next-run.ts';
import type { RotationSchedule } from '../../core/schedule/rotation-schedule.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { pamSetup, type PamSetup } from './support.ts';

const HOUR = 3_600_000;

function wallClock(ms: number, timeZone: string): { weekday: string; time: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(ms);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return { weekday: get('weekday'), time: `${get('hour')}:${get('minute')}:${get('second')}` };
}

describe('cron rotation schedules with a time zone', () => {
  let router: TestRouter;
  let pam: PamSetup;

  beforeAll(async () => {
    router = await startTestRouter({ backend: 'sqlite' });
    pam = await pamSetup(router.url);
  });
  afterAll(async () => {
    await pam?.gateway.stop();
    await router?.stop();
  });

  it('computes the next 09:30 on a weekday in New York', async () => {
    const schedule: RotationSchedule = { kind: 'cron', expression: '0 30 9 * * 1-5', timeZone: 'America/New_York' };
    const before = Date.now();
    const entry = await pam.admin.setRotation(pam.user, { configurationUid: pam.config, schedule });
    const after = Date.now();

    const next = entry.nextRunAt!;
    expect(next).toBeGreaterThan(after);
    expect(next).toBe(nextRunAfter(schedule, before));
    const local = wallClock(next, 'America/New_York');
    expect(local.time).toBe('09:30:00');
    expect(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']).toContain(local.weekday);
    // No earlier weekday 09:30 in New York lies between now and then (at most a weekend away).
    expect(next - before).toBeLessThanOrEqual(3 * 24 * HOUR + HOUR);
    for (let probe = next - 24 * HOUR; probe > before; probe -= 24 * HOUR) {
      const earlier = wallClock(probe, 'America/New_York');
      expect(earlier.time === '09:30:00' && !['Sat', 'Sun'].includes(earlier.weekday), new Date(probe).toISOString()).toBe(false);
    }

    const stored = await pam.admin.getRotation(pam.user);
    expect(stored).toMatchObject({ schedule, nextRunAt: next, configurationUid: pam.config });
    const row = await router.db.selectFrom('rotation_schedules').selectAll().where('record_uid', '=', pam.user).executeTakeFirstOrThrow();
    expect(Number(row.next_run_at)).toBe(next);
  });

  it('refuses an unknown time zone, a malformed or never-matching expression, and a run-once in the past', async () => {
    const set = (schedule: RotationSchedule) => pam.admin.setRotation(pam.user, { configurationUid: pam.config, schedule });
    await expect(set({ kind: 'cron', expression: '0 30 9 * * 1-5', timeZone: 'Mars/Olympus' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(set({ kind: 'cron', expression: 'at half past nine', timeZone: 'UTC' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(set({ kind: 'cron', expression: '0 0 0 31 2 *', timeZone: 'UTC' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(set({ kind: 'once', at: Date.now() - 1000 })).rejects.toMatchObject({ code: 'bad_request' });
    // The refused settings left the stored schedule alone.
    expect((await pam.admin.getRotation(pam.user)).schedule).toMatchObject({ kind: 'cron', timeZone: 'America/New_York' });
  });
});
