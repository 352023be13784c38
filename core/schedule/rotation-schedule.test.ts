import { describe, expect, it } from 'vitest';
import { rotationScheduleSchema } from './rotation-schedule.ts';

const accepts = (value: unknown) => rotationScheduleSchema.parse(value);
const refuses = (value: unknown) => expect(rotationScheduleSchema.safeParse(value).success, JSON.stringify(value)).toBe(false);

describe('rotationScheduleSchema', () => {
  it('accepts every kind and fills the defaults (UTC, every 1)', () => {
    expect(accepts({ kind: 'on-demand' })).toEqual({ kind: 'on-demand' });
    expect(accepts({ kind: 'daily', time: '03:00' })).toEqual({ kind: 'daily', time: '03:00', timeZone: 'UTC', interval: 1 });
    expect(accepts({ kind: 'weekly', days: ['mon', 'fri'], time: '23:59', timeZone: 'Europe/Berlin', interval: 2 })).toEqual({
      kind: 'weekly',
      days: ['mon', 'fri'],
      time: '23:59',
      timeZone: 'Europe/Berlin',
      interval: 2,
    });
    expect(accepts({ kind: 'monthly', day: 'last', time: '00:00' })).toEqual({ kind: 'monthly', day: 'last', time: '00:00', timeZone: 'UTC' });
    expect(accepts({ kind: 'monthly', day: 31, time: '12:30' })).toMatchObject({ day: 31 });
    expect(accepts({ kind: 'cron', expression: '0 */5 * * * *' })).toEqual({ kind: 'cron', expression: '0 */5 * * * *', timeZone: 'UTC' });
    expect(accepts({ kind: 'once', at: 1_900_000_000_000 })).toEqual({ kind: 'once', at: 1_900_000_000_000 });
  });

  it('refuses malformed times', () => {
    for (const time of ['24:00', '3:00', '03:60', '03:00:00', 'noon', '']) refuses({ kind: 'daily', time });
  });

  it('refuses bad weekly days and intervals', () => {
    refuses({ kind: 'weekly', days: [], time: '03:00' });
    refuses({ kind: 'weekly', days: ['monday'], time: '03:00' });
    refuses({ kind: 'weekly', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'mon'], time: '03:00' });
    refuses({ kind: 'weekly', days: ['mon'], time: '03:00', interval: 0 });
    refuses({ kind: 'weekly', days: ['mon'], time: '03:00', interval: 53 });
    refuses({ kind: 'daily', time: '03:00', interval: 366 });
    refuses({ kind: 'daily', time: '03:00', interval: 1.5 });
  });

  it('refuses bad monthly days, short cron expressions, and non-positive run-once times', () => {
    refuses({ kind: 'monthly', day: 0, time: '03:00' });
    refuses({ kind: 'monthly', day: 32, time: '03:00' });
    refuses({ kind: 'monthly', day: 'first', time: '03:00' });
    refuses({ kind: 'cron', expression: '* * * *' });
    refuses({ kind: 'cron', expression: 'x'.repeat(121) });
    refuses({ kind: 'once', at: 0 });
    refuses({ kind: 'once', at: 1.5 });
    refuses({ kind: 'daily', time: '03:00', timeZone: '' });
  });

  it('refuses unknown kinds', () => {
    refuses({ kind: 'hourly', time: '03:00' });
    refuses({});
  });
});
