import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { nextRunAfter } from './next-run.ts';
import { rotationScheduleSchema } from './rotation-schedule.ts';
import { canonicalTimeZone, describeSchedule, formatScheduleSpec, parseScheduleSpec, SCHEDULE_FORMS, zonedTimeToInstant } from './schedule-syntax.ts';

/** Thursday 2026-01-01 00:00 UTC. */
const NOW = Date.UTC(2026, 0, 1);

function refusal(spec: string, tz = 'UTC', now = NOW): string {
  try {
    parseScheduleSpec(spec, tz, now);
  } catch (err) {
    expect(err).toBeInstanceOf(PosternError);
    expect((err as PosternError).code).toBe('bad_request');
    return (err as PosternError).message;
  }
  throw new Error(`"${spec}" was accepted`);
}

describe('parseScheduleSpec', () => {
  it('parses every documented form into a schedule the Router accepts', () => {
    for (const spec of SCHEDULE_FORMS) {
      const schedule = parseScheduleSpec(spec, 'UTC', NOW);
      expect(rotationScheduleSchema.parse(schedule)).toEqual(schedule);
    }
  });

  it('on-demand', () => {
    expect(parseScheduleSpec('on-demand')).toEqual({ kind: 'on-demand' });
    expect(parseScheduleSpec('  On-Demand ')).toEqual({ kind: 'on-demand' });
    expect(refusal('on-demand@03:00')).toMatch(/takes nothing after it/);
  });

  it('daily, with an interval in days and a time zone', () => {
    expect(parseScheduleSpec('daily@03:00', 'UTC', NOW)).toEqual({ kind: 'daily', time: '03:00', timeZone: 'UTC', interval: 1 });
    expect(parseScheduleSpec('daily@3:05/2', 'Europe/London', NOW)).toEqual({ kind: 'daily', time: '03:05', timeZone: 'Europe/London', interval: 2 });
    expect(parseScheduleSpec('DAILY@23:59', 'utc', NOW)).toMatchObject({ time: '23:59', timeZone: 'UTC' });
    expect(refusal('daily')).toMatch(/daily@HH:MM/);
    expect(refusal('daily@24:00')).toMatch(/"24:00" is not a time; expected HH:MM/);
    expect(refusal('daily@03:60')).toMatch(/not a time/);
    expect(refusal('daily@3pm')).toMatch(/not a time/);
    expect(refusal('daily@03:00/0')).toMatch(/interval "\/0" must be a whole number from 1 to 365 \(days\)/);
    expect(refusal('daily@03:00/366')).toMatch(/1 to 365/);
    expect(refusal('daily@03:00/x')).toMatch(/interval/);
  });

  it('weekly: lists, ranges, full names, every N weeks', () => {
    expect(parseScheduleSpec('weekly:mon,thu@04:30', 'UTC', NOW)).toEqual({
      kind: 'weekly',
      days: ['mon', 'thu'],
      time: '04:30',
      timeZone: 'UTC',
      interval: 1,
    });
    expect(parseScheduleSpec('weekly:fri@22:00/2', 'America/New_York', NOW)).toEqual({
      kind: 'weekly',
      days: ['fri'],
      time: '22:00',
      timeZone: 'America/New_York',
      interval: 2,
    });
    expect(parseScheduleSpec('weekly:thu,mon,Monday@04:30', 'UTC', NOW)).toMatchObject({ days: ['mon', 'thu'] });
    expect(parseScheduleSpec('weekly:mon-fri@06:00', 'UTC', NOW)).toMatchObject({ days: ['mon', 'tue', 'wed', 'thu', 'fri'] });
    expect(parseScheduleSpec('weekly:sat-sun,wed@06:00', 'UTC', NOW)).toMatchObject({ days: ['wed', 'sat', 'sun'] });
    expect(refusal('weekly:fry@04:30')).toMatch(/"fry" is not a weekday; use mon, tue, wed, thu, fri, sat, sun/);
    expect(refusal('weekly:fri-mon@04:30')).toMatch(/runs backwards/);
    expect(refusal('weekly:@04:30')).toMatch(/weekly:DAYS@HH:MM/);
    expect(refusal('weekly:mon')).toMatch(/weekly:DAYS@HH:MM/);
    expect(refusal('weekly:mon,,tue@04:30')).toMatch(/empty weekday/);
    expect(refusal('weekly:mon@04:30/53')).toMatch(/1 to 52 \(weeks\)/);
  });

  it('monthly: a day of the month or the last day', () => {
    expect(parseScheduleSpec('monthly:15@02:00', 'UTC', NOW)).toEqual({ kind: 'monthly', day: 15, time: '02:00', timeZone: 'UTC' });
    expect(parseScheduleSpec('monthly:LAST@02:00', 'Asia/Tokyo', NOW)).toEqual({ kind: 'monthly', day: 'last', time: '02:00', timeZone: 'Asia/Tokyo' });
    expect(parseScheduleSpec('monthly:31@02:00', 'UTC', NOW)).toMatchObject({ day: 31 });
    expect(refusal('monthly:0@02:00')).toMatch(/"0" is not a day of the month; use 1 to 31 or "last"/);
    expect(refusal('monthly:32@02:00')).toMatch(/not a day of the month/);
    expect(refusal('monthly:first@02:00')).toMatch(/not a day of the month/);
    expect(refusal('monthly:15@02:00/2')).toMatch(/no \/N interval/);
    expect(refusal('monthly@02:00')).toMatch(/monthly:DAY@HH:MM/);
  });

  it('cron: exactly five fields, validated', () => {
    expect(parseScheduleSpec('cron:0 3 * * *', 'UTC', NOW)).toEqual({ kind: 'cron', expression: '0 3 * * *', timeZone: 'UTC' });
    expect(parseScheduleSpec('cron:  */15   9-17 * *  mon-fri ', 'Europe/Berlin', NOW)).toEqual({
      kind: 'cron',
      expression: '*/15 9-17 * * mon-fri',
      timeZone: 'Europe/Berlin',
    });
    expect(refusal('cron:0 0 3 * * *')).toMatch(/5 fields .*this one has 6\. Seconds are not supported/);
    expect(refusal('cron:0 3 *')).toMatch(/has 3/);
    expect(refusal('cron:')).toMatch(/has 0/);
    expect(refusal('cron:61 3 * * *')).toMatch(/not a valid cron expression \(.*minute.*61\)/i);
    expect(refusal('cron:0 3 * * blursday')).toMatch(/not a valid cron expression/);
    expect(refusal('cron:0 0 30 2 *')).toMatch(/cron/);
  });

  it('once: a wall-clock time in the time zone, an explicit offset, or relative to now', () => {
    expect(parseScheduleSpec('once:2026-12-01T03:00', 'UTC', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 11, 1, 3, 0) });
    // December: London is on GMT, New York 5 hours behind, Tokyo 9 ahead.
    expect(parseScheduleSpec('once:2026-12-01T03:00', 'Europe/London', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 11, 1, 3, 0) });
    expect(parseScheduleSpec('once:2026-12-01 03:00', 'America/New_York', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 11, 1, 8, 0) });
    expect(parseScheduleSpec('once:2026-12-01T03:00:30', 'Asia/Tokyo', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 10, 30, 18, 0, 30) });
    // July: London is on BST (UTC+1).
    expect(parseScheduleSpec('once:2026-07-01T03:00', 'Europe/London', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 6, 1, 2, 0) });
    // An explicit offset wins over --tz.
    expect(parseScheduleSpec('once:2026-12-01T03:00Z', 'Asia/Tokyo', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 11, 1, 3, 0) });
    expect(parseScheduleSpec('once:2026-12-01T03:00+02:00', 'UTC', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 11, 1, 1, 0) });
    expect(parseScheduleSpec('once:2026-12-01T03:00-0130', 'UTC', NOW)).toEqual({ kind: 'once', at: Date.UTC(2026, 11, 1, 4, 30) });

    expect(parseScheduleSpec('once:+90s', 'UTC', NOW)).toEqual({ kind: 'once', at: NOW + 90_000 });
    expect(parseScheduleSpec('once:+10m', 'UTC', NOW)).toEqual({ kind: 'once', at: NOW + 600_000 });
    expect(parseScheduleSpec('once:+1h30m', 'UTC', NOW)).toEqual({ kind: 'once', at: NOW + 5_400_000 });
    expect(parseScheduleSpec('once:+2d', 'UTC', NOW)).toEqual({ kind: 'once', at: NOW + 2 * 86_400_000 });
    expect(parseScheduleSpec('once:+1w', 'UTC', NOW)).toEqual({ kind: 'once', at: NOW + 604_800_000 });

    expect(refusal('once:2025-12-31T23:59')).toMatch(/2025-12-31T23:59:00.000Z is in the past/);
    expect(refusal('once:+0s')).toMatch(/at least \+1s/);
    expect(refusal('once:+10y')).toMatch(/not a date and time/);
    expect(refusal('once:tomorrow')).toMatch(/once:YYYY-MM-DDTHH:MM/);
    expect(refusal('once:2026-02-30T03:00')).toMatch(/2026-02-30 is not a date/);
    expect(refusal('once:2026-02-30T03:00Z')).toMatch(/not a date/);
    expect(refusal('once:2026-12-01T25:00')).toMatch(/impossible time/);
    // The clocks go forward at 01:00 in London on 2026-03-29: 01:30 never happens.
    expect(refusal('once:2026-03-29T01:30', 'Europe/London')).toMatch(/01:30 does not exist on that day in Europe\/London/);
  });

  it('time zones are checked and canonicalised', () => {
    expect(canonicalTimeZone('utc')).toBe('UTC');
    expect(canonicalTimeZone('europe/london')).toBe('Europe/London');
    expect(refusal('daily@03:00', 'Mars/Olympus')).toMatch(/Unknown time zone "Mars\/Olympus"; give an IANA name/);
    expect(refusal('daily@03:00', ' ')).toMatch(/time zone is empty/);
    // on-demand ignores the zone altogether.
    expect(parseScheduleSpec('on-demand', 'Mars/Olympus')).toEqual({ kind: 'on-demand' });
  });

  it('names the accepted forms for anything unrecognised', () => {
    for (const spec of ['hourly@03:00', 'every day', '03:00'])
      expect(refusal(spec)).toMatch(/Unrecognised schedule .*Use one of: on-demand, daily@03:00, .*once:\+10m\./);
    expect(refusal('')).toMatch(/schedule is empty/);
  });

  it('the parsed schedules run when expected', () => {
    // Thursday 2026-01-01: the next Monday/Thursday 04:30 is the same day.
    expect(nextRunAfter(parseScheduleSpec('weekly:mon,thu@04:30', 'UTC', NOW), NOW)).toBe(Date.UTC(2026, 0, 1, 4, 30));
    expect(nextRunAfter(parseScheduleSpec('monthly:last@02:00', 'UTC', NOW), NOW)).toBe(Date.UTC(2026, 0, 31, 2, 0));
    expect(nextRunAfter(parseScheduleSpec('daily@03:00', 'America/New_York', NOW), NOW)).toBe(Date.UTC(2026, 0, 1, 8, 0));
  });
});

describe('describeSchedule and formatScheduleSpec', () => {
  const cases: [string, string, string][] = [
    ['on-demand', 'UTC', 'on demand only (no schedule)'],
    ['daily@03:00', 'UTC', 'every day at 03:00 (UTC)'],
    ['daily@03:00/2', 'Europe/London', 'every 2 days at 03:00 (Europe/London)'],
    ['weekly:mon,thu@04:30', 'UTC', 'every Monday and Thursday at 04:30 (UTC)'],
    ['weekly:mon,wed,fri@04:30', 'UTC', 'every Monday, Wednesday and Friday at 04:30 (UTC)'],
    ['weekly:mon-fri@06:00', 'UTC', 'every Monday to Friday at 06:00 (UTC)'],
    ['weekly:mon-sun@06:00', 'UTC', 'every day at 06:00 (UTC)'],
    ['weekly:fri@22:00/2', 'UTC', 'every other week on Friday at 22:00 (UTC)'],
    ['weekly:sat@22:00/3', 'UTC', 'every 3 weeks on Saturday at 22:00 (UTC)'],
    ['monthly:1@02:00', 'UTC', 'on the 1st of every month at 02:00 (UTC)'],
    ['monthly:22@02:00', 'UTC', 'on the 22nd of every month at 02:00 (UTC)'],
    ['monthly:13@02:00', 'UTC', 'on the 13th of every month at 02:00 (UTC)'],
    ['monthly:31@02:00', 'UTC', 'on the 31st of every month at 02:00 (UTC; months without a 31st are skipped)'],
    ['monthly:last@02:00', 'Asia/Tokyo', 'on the last day of every month at 02:00 (Asia/Tokyo)'],
    ['cron:0 3 * * *', 'UTC', 'cron "0 3 * * *" (UTC)'],
    ['once:2026-12-01T03:00', 'UTC', 'once, at 2026-12-01T03:00:00.000Z'],
  ];
  it.each(cases)('%s (%s) → "%s", and back', (spec, tz, words) => {
    const schedule = parseScheduleSpec(spec, tz, NOW);
    expect(describeSchedule(schedule)).toBe(words);
    const formatted = formatScheduleSpec(schedule);
    expect(parseScheduleSpec(formatted.spec, formatted.timeZone ?? 'UTC', NOW)).toEqual(schedule);
  });

  it('formats the stored form', () => {
    expect(formatScheduleSpec({ kind: 'weekly', days: ['fri'], time: '22:00', timeZone: 'UTC', interval: 2 })).toEqual({
      spec: 'weekly:fri@22:00/2',
      timeZone: 'UTC',
    });
    expect(formatScheduleSpec({ kind: 'once', at: Date.UTC(2026, 11, 1, 3) })).toEqual({ spec: 'once:2026-12-01T03:00:00Z', timeZone: null });
  });
});

describe('zonedTimeToInstant', () => {
  it('handles both sides of a DST change and refuses impossible dates', () => {
    // New York falls back on 2026-11-01 at 02:00: 01:30 happens twice; either instant is a valid answer.
    const ambiguous = zonedTimeToInstant({ year: 2026, month: 11, day: 1, hour: 1, minute: 30 }, 'America/New_York');
    expect([Date.UTC(2026, 10, 1, 5, 30), Date.UTC(2026, 10, 1, 6, 30)]).toContain(ambiguous);
    expect(zonedTimeToInstant({ year: 2026, month: 3, day: 8, hour: 3, minute: 0 }, 'America/New_York')).toBe(Date.UTC(2026, 2, 8, 7, 0));
    expect(zonedTimeToInstant({ year: 2026, month: 6, day: 15, hour: 12, minute: 0 }, 'Australia/Lord_Howe')).toBe(Date.UTC(2026, 5, 15, 1, 30));
    expect(() => zonedTimeToInstant({ year: 2026, month: 2, day: 29, hour: 0, minute: 0 }, 'UTC')).toThrow(/not a date/);
  });
});
