import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { cronPatternFor, localDayNumber, nextRunAfter } from './next-run.ts';
import { rotationScheduleSchema, type RotationSchedule } from './rotation-schedule.ts';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const schedule = (value: unknown): RotationSchedule => rotationScheduleSchema.parse(value);
const DAY = 86_400_000;

/** The next `count` runs after `from`, as ISO strings. */
function runs(s: RotationSchedule, from: string, count: number): string[] {
  const out: string[] = [];
  let cursor = t(from);
  for (let i = 0; i < count; i++) {
    const next = nextRunAfter(s, cursor);
    if (next === null) break;
    expect(next).toBeGreaterThan(cursor);
    out.push(iso(next)!);
    cursor = next;
  }
  return out;
}

function localDate(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

function refusal(s: RotationSchedule): PosternError {
  try {
    nextRunAfter(s, t('2026-01-01T00:00:00Z'));
  } catch (err) {
    expect(err).toBeInstanceOf(PosternError);
    expect((err as PosternError).code).toBe('bad_request');
    return err as PosternError;
  }
  throw new Error(`${JSON.stringify(s)} was accepted`);
}

describe('cronPatternFor', () => {
  it('turns calendar schedules into six-field croner patterns', () => {
    expect(cronPatternFor(schedule({ kind: 'daily', time: '07:05' }))).toBe('0 5 7 * * *');
    expect(cronPatternFor(schedule({ kind: 'weekly', days: ['mon', 'sun'], time: '08:00' }))).toBe('0 0 8 * * 1,0');
    expect(cronPatternFor(schedule({ kind: 'monthly', day: 'last', time: '23:00' }))).toBe('0 0 23 L * *');
    expect(cronPatternFor(schedule({ kind: 'monthly', day: 15, time: '00:30' }))).toBe('0 30 0 15 * *');
    expect(cronPatternFor(schedule({ kind: 'cron', expression: '*/5 * * * *' }))).toBe('*/5 * * * *');
    expect(cronPatternFor({ kind: 'on-demand' })).toBeNull();
    expect(cronPatternFor({ kind: 'once', at: 1 })).toBeNull();
  });
});

describe('nextRunAfter', () => {
  it('never runs an on-demand schedule', () => {
    expect(nextRunAfter({ kind: 'on-demand' }, t('2026-01-01T00:00:00Z'))).toBeNull();
  });

  it('runs a run-once schedule only while its time is in the future', () => {
    const at = t('2026-06-01T12:00:00Z');
    expect(nextRunAfter({ kind: 'once', at }, at - 1)).toBe(at);
    expect(nextRunAfter({ kind: 'once', at }, at)).toBeNull();
    expect(nextRunAfter({ kind: 'once', at }, at + DAY)).toBeNull();
  });

  it('is strictly after the given instant, to the millisecond', () => {
    const daily = schedule({ kind: 'daily', time: '03:00' });
    expect(iso(nextRunAfter(daily, t('2026-01-01T00:00:00Z')))).toBe('2026-01-01T03:00:00.000Z');
    expect(iso(nextRunAfter(daily, t('2026-01-01T02:59:59.999Z')))).toBe('2026-01-01T03:00:00.000Z');
    expect(iso(nextRunAfter(daily, t('2026-01-01T03:00:00.000Z')))).toBe('2026-01-02T03:00:00.000Z');
    expect(iso(nextRunAfter(daily, t('2026-01-01T03:00:00.001Z')))).toBe('2026-01-02T03:00:00.000Z');
  });

  it('runs daily at a wall-clock time in a time zone, summer and winter', () => {
    const ny = schedule({ kind: 'daily', time: '09:00', timeZone: 'America/New_York' });
    expect(runs(ny, '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-01T14:00:00.000Z', '2026-01-02T14:00:00.000Z']);
    expect(runs(ny, '2026-07-01T00:00:00Z', 1)).toEqual(['2026-07-01T13:00:00.000Z']);
    // 08:00 in Tokyo is 23:00 UTC the day before; at 00:00 UTC it is already 09:00 there.
    expect(runs(schedule({ kind: 'daily', time: '08:00', timeZone: 'Asia/Tokyo' }), '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T23:00:00.000Z']);
  });

  it('counts a daily interval in whole local days', () => {
    const everyOther = schedule({ kind: 'daily', time: '03:00', interval: 2 });
    const got = runs(everyOther, '2026-01-01T00:00:00Z', 4).map(t);
    expect(got.slice(1).map((v, i) => v - got[i]!)).toEqual([2 * DAY, 2 * DAY, 2 * DAY]);
    // The grid is fixed: asking from any point inside it lands on the same runs.
    expect(nextRunAfter(everyOther, got[0]! + DAY)).toBe(got[1]);
    expect(nextRunAfter(everyOther, got[0]! + 1)).toBe(got[1]);
    // Every 7 days is weekly.
    const weekly = runs(schedule({ kind: 'daily', time: '12:00', interval: 7 }), '2026-01-01T00:00:00Z', 3).map(t);
    expect(weekly[1]! - weekly[0]!).toBe(7 * DAY);
  });

  it('keeps a daily interval on local dates across a DST change (01:30 Europe/Berlin, every 2 days)', () => {
    const s = schedule({ kind: 'daily', time: '01:30', timeZone: 'Europe/Berlin', interval: 2 });
    const got = runs(s, '2025-03-25T00:00:00Z', 5);
    // 01:30 CEST is 23:30 UTC the day before: counting UTC days would skip a day here.
    expect(got).toEqual([
      '2025-03-25T00:30:00.000Z',
      '2025-03-27T00:30:00.000Z',
      '2025-03-29T00:30:00.000Z',
      '2025-03-30T23:30:00.000Z',
      '2025-04-01T23:30:00.000Z',
    ]);
    expect(got.map((g) => localDate(t(g), 'Europe/Berlin'))).toEqual(['2025-03-25', '2025-03-27', '2025-03-29', '2025-03-31', '2025-04-02']);
  });

  it('runs weekly on several days', () => {
    const s = schedule({ kind: 'weekly', days: ['mon', 'wed', 'fri'], time: '08:00', timeZone: 'Europe/Berlin' });
    // 2026-01-01 is a Thursday.
    expect(runs(s, '2026-01-01T00:00:00Z', 4)).toEqual([
      '2026-01-02T07:00:00.000Z',
      '2026-01-05T07:00:00.000Z',
      '2026-01-07T07:00:00.000Z',
      '2026-01-09T07:00:00.000Z',
    ]);
  });

  it('runs every 2 weeks, counted in whole weeks from a fixed Monday', () => {
    const s = schedule({ kind: 'weekly', days: ['mon'], time: '10:00', interval: 2 });
    expect(runs(s, '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-05T10:00:00.000Z', '2026-01-19T10:00:00.000Z', '2026-02-02T10:00:00.000Z']);
    // The grid does not depend on when it is computed.
    expect(iso(nextRunAfter(s, t('2026-01-06T00:00:00Z')))).toBe('2026-01-19T10:00:00.000Z');
    expect(iso(nextRunAfter(s, t('2026-01-12T10:00:00Z')))).toBe('2026-01-19T10:00:00.000Z');
  });

  it('groups the days of an every-2-weeks schedule by local week (Monday and Sunday, Asia/Tokyo)', () => {
    const s = schedule({ kind: 'weekly', days: ['mon', 'sun'], time: '08:00', timeZone: 'Asia/Tokyo', interval: 2 });
    const got = runs(s, '2026-01-01T00:00:00Z', 5);
    expect(got.map((g) => localDate(t(g), 'Asia/Tokyo'))).toEqual(['2026-01-05', '2026-01-11', '2026-01-19', '2026-01-25', '2026-02-02']);
    const ms = got.map(t);
    expect(ms.slice(1).map((v, i) => (v - ms[i]!) / DAY)).toEqual([6, 8, 6, 8]);
  });

  it('runs monthly on a day, skipping months without it', () => {
    expect(runs(schedule({ kind: 'monthly', day: 15, time: '12:00' }), '2026-01-20T00:00:00Z', 2)).toEqual([
      '2026-02-15T12:00:00.000Z',
      '2026-03-15T12:00:00.000Z',
    ]);
    expect(runs(schedule({ kind: 'monthly', day: 31, time: '12:00' }), '2026-01-31T12:00:00Z', 2)).toEqual([
      '2026-03-31T12:00:00.000Z',
      '2026-05-31T12:00:00.000Z',
    ]);
  });

  it("runs monthly on the 'last' day, in a time zone and in leap years", () => {
    const s = schedule({ kind: 'monthly', day: 'last', time: '23:00', timeZone: 'Europe/Berlin' });
    expect(runs(s, '2026-01-01T00:00:00Z', 4)).toEqual([
      '2026-01-31T22:00:00.000Z',
      '2026-02-28T22:00:00.000Z',
      '2026-03-31T21:00:00.000Z',
      '2026-04-30T21:00:00.000Z',
    ]);
    expect(runs(schedule({ kind: 'monthly', day: 'last', time: '00:00' }), '2028-02-01T00:00:00Z', 1)).toEqual(['2028-02-29T00:00:00.000Z']);
  });

  it('follows Europe/Berlin through both DST transitions: one run a day, never two, never none', () => {
    const late = schedule({ kind: 'daily', time: '02:30', timeZone: 'Europe/Berlin' });
    // Spring forward 2025-03-30: 02:30 does not exist that day; it runs at 03:30 CEST instead.
    expect(runs(late, '2025-03-28T12:00:00Z', 3)).toEqual(['2025-03-29T01:30:00.000Z', '2025-03-30T01:30:00.000Z', '2025-03-31T00:30:00.000Z']);
    // Fall back 2025-10-26: 02:30 happens twice; it runs once, at the second (CET) one.
    expect(runs(late, '2025-10-24T12:00:00Z', 3)).toEqual(['2025-10-25T00:30:00.000Z', '2025-10-26T01:30:00.000Z', '2025-10-27T01:30:00.000Z']);
    // An ordinary time keeps its wall-clock hour: 09:00 CET is 08:00 UTC, 09:00 CEST is 07:00 UTC.
    const nine = schedule({ kind: 'daily', time: '09:00', timeZone: 'Europe/Berlin' });
    expect(runs(nine, '2025-03-29T00:00:00Z', 2)).toEqual(['2025-03-29T08:00:00.000Z', '2025-03-30T07:00:00.000Z']);
  });

  it('runs cron expressions in their time zone (six fields, five fields, every second)', () => {
    // 2026-01-02 15:00 UTC is Friday 10:00 in New York: the next weekday 09:30 there is Monday.
    const weekdays = schedule({ kind: 'cron', expression: '0 30 9 * * 1-5', timeZone: 'America/New_York' });
    expect(runs(weekdays, '2026-01-02T15:00:00Z', 2)).toEqual(['2026-01-05T14:30:00.000Z', '2026-01-06T14:30:00.000Z']);
    // India is UTC+05:30: 02:30 there is 21:00 UTC the day before.
    expect(runs(schedule({ kind: 'cron', expression: '30 2 * * *', timeZone: 'Asia/Kolkata' }), '2026-01-01T00:00:00Z', 1)).toEqual([
      '2026-01-01T21:00:00.000Z',
    ]);
    // The same pattern, 26 hours apart across the date line.
    const noon = (timeZone: string) => nextRunAfter(schedule({ kind: 'cron', expression: '0 0 12 * * *', timeZone }), t('2026-01-01T00:00:00Z'));
    expect(iso(noon('UTC'))).toBe('2026-01-01T12:00:00.000Z');
    expect(iso(noon('Pacific/Kiritimati'))).toBe('2026-01-01T22:00:00.000Z');
    expect(iso(noon('Pacific/Pago_Pago'))).toBe('2026-01-01T23:00:00.000Z');
    expect(runs(schedule({ kind: 'cron', expression: '* * * * * *' }), '2026-01-01T00:00:00.400Z', 2)).toEqual([
      '2026-01-01T00:00:01.000Z',
      '2026-01-01T00:00:02.000Z',
    ]);
    expect(runs(schedule({ kind: 'cron', expression: '@annually' }), '2026-03-01T00:00:00Z', 1)).toEqual(['2027-01-01T00:00:00.000Z']);
  });

  it('gives the same instants whatever time zone the Router process itself runs in', () => {
    const cases = [
      schedule({ kind: 'weekly', days: ['mon', 'sun'], time: '08:00', timeZone: 'Asia/Tokyo', interval: 2 }),
      schedule({ kind: 'daily', time: '01:30', timeZone: 'Europe/Berlin', interval: 3 }),
      schedule({ kind: 'cron', expression: '0 30 9 * * 1-5', timeZone: 'America/New_York' }),
    ];
    const compute = () => cases.map((s) => runs(s, '2025-03-20T00:00:00Z', 6));
    const expected = compute();
    const original = process.env['TZ'];
    try {
      for (const tz of ['America/Los_Angeles', 'Pacific/Kiritimati', 'Europe/Berlin']) {
        process.env['TZ'] = tz;
        expect(compute(), tz).toEqual(expected);
      }
    } finally {
      if (original === undefined) delete process.env['TZ'];
      else process.env['TZ'] = original;
    }
  });

  describe('refuses what can never run, as bad_request', () => {
    it('malformed cron expressions', () => {
      expect(refusal(schedule({ kind: 'cron', expression: 'every day at noon' })).message).toContain('every day at noon');
      refusal(schedule({ kind: 'cron', expression: '0 0 25 * * *' }));
      refusal(schedule({ kind: 'cron', expression: '0 0 0 * * * 2030' }));
      refusal(schedule({ kind: 'cron', expression: '0 0 12 * * mon#9' }));
    });

    it('patterns croner would not repeat the same way on every Router (a date, or "?")', () => {
      refusal(schedule({ kind: 'cron', expression: '2030-01-01T00:00:00' }));
      refusal(schedule({ kind: 'cron', expression: '? ? 12 * * *' }));
    });

    it('unknown time zones, for every calendar kind', () => {
      expect(refusal(schedule({ kind: 'cron', expression: '0 0 12 * * *', timeZone: 'Mars/Olympus' })).message).toContain('Mars/Olympus');
      refusal(schedule({ kind: 'daily', time: '03:00', timeZone: 'Mars/Olympus' }));
      refusal(schedule({ kind: 'weekly', days: ['mon'], time: '03:00', timeZone: 'Not/AZone', interval: 2 }));
      refusal(schedule({ kind: 'monthly', day: 'last', time: '03:00', timeZone: 'UTC+99' }));
    });

    it('a calendar that never matches', () => {
      expect(refusal(schedule({ kind: 'cron', expression: '0 0 0 31 2 *' })).message).toContain('never');
    });
  });
});

describe('localDayNumber', () => {
  it('numbers the local calendar date', () => {
    expect(localDayNumber(Date.UTC(1970, 0, 1), 'UTC')).toBe(0);
    expect(localDayNumber(Date.UTC(1970, 0, 5, 23, 59), 'UTC')).toBe(4);
    expect(localDayNumber(t('2026-01-01T20:00:00Z'), 'Asia/Tokyo')).toBe(localDayNumber(t('2026-01-02T12:00:00Z'), 'UTC'));
    expect(localDayNumber(t('2026-01-01T03:00:00Z'), 'America/New_York')).toBe(localDayNumber(t('2025-12-31T12:00:00Z'), 'UTC'));
  });
});
