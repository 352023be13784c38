/**
 * When a rotation schedule is next due, strictly after a given instant. Calendar rules (days,
 * times, time zones, DST) are croner's; intervals ("every 2 days", "every 2 weeks") are counted
 * in whole *local* calendar days / weeks from a fixed epoch, so that every Router process
 * computes the same instants whatever its own clock's time zone, and DST changes never shift
 * the count.
 *
 * DST, as croner resolves it: a wall-clock time that does not exist on the spring-forward day
 * (02:30 in Europe/Berlin on the last Sunday of March) runs once, at the first instant after the
 * gap (03:30 local); a time that occurs twice on the fall-back day runs once, at the later
 * occurrence.
 */
import { Cron } from 'croner';
import { PosternError } from '../errors.ts';
import type { RotationSchedule } from './rotation-schedule.ts';

const DAY_MS = 86_400_000;
const WEEKDAY_NUMBER = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } as const;
/** Day number (days since 1970-01-01) of Monday 1970-01-05: weekly intervals count whole weeks from here. */
const WEEK_EPOCH_DAY = 4;
/** Interval schedules test at most this many calendar candidates (365 days, or 52 weeks × 7 days, fit). */
const MAX_CANDIDATES = 1000;

export function cronPatternFor(schedule: RotationSchedule): string | null {
  switch (schedule.kind) {
    case 'on-demand':
    case 'once':
      return null;
    case 'daily': {
      const [h, m] = schedule.time.split(':');
      return `0 ${Number(m)} ${Number(h)} * * *`;
    }
    case 'weekly': {
      const [h, m] = schedule.time.split(':');
      return `0 ${Number(m)} ${Number(h)} * * ${schedule.days.map((d) => WEEKDAY_NUMBER[d]).join(',')}`;
    }
    case 'monthly': {
      const [h, m] = schedule.time.split(':');
      return `0 ${Number(m)} ${Number(h)} ${schedule.day === 'last' ? 'L' : schedule.day} * *`;
    }
    case 'cron':
      return schedule.expression;
  }
}

function invalid(pattern: string, timeZone: string, why: string): PosternError {
  return new PosternError('bad_request', `Invalid schedule "${pattern}" in ${timeZone}: ${why}`);
}

function cronFor(pattern: string, timeZone: string): Cron {
  // croner reads a string with a ':' as a one-off date and fills '?' with the current time;
  // neither is a repeating pattern every Router process would agree on.
  const fields = pattern.trim().split(/\s+/);
  if (/[?:]/.test(pattern) || (!pattern.trim().startsWith('@') && (fields.length < 5 || fields.length > 6))) {
    throw invalid(pattern, timeZone, 'expected five or six cron fields (seconds optional), without "?"');
  }
  if (!isTimeZone(timeZone)) throw invalid(pattern, timeZone, `unknown time zone "${timeZone}"`);
  try {
    return new Cron(pattern, { timezone: timeZone, paused: true });
  } catch (err) {
    throw invalid(pattern, timeZone, (err as Error).message);
  }
}

function isTimeZone(timeZone: string): boolean {
  try {
    localDateFormat(timeZone);
    return true;
  } catch {
    return false;
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();
function localDateFormat(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' });
    formats.set(timeZone, format);
  }
  return format;
}

/** Days since 1970-01-01 of the calendar date that `at` falls on in `timeZone`. */
export function localDayNumber(at: number, timeZone: string): number {
  const parts = localDateFormat(timeZone).formatToParts(new Date(at));
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Math.round(Date.UTC(part('year'), part('month') - 1, part('day')) / DAY_MS);
}

/**
 * The first run strictly after `after` (ms since the epoch), or null when there is none: never
 * for on-demand, and a run-once schedule whose time has passed. Throws bad_request for a
 * schedule that is invalid (cron syntax, time zone) or whose calendar can never match
 * (`0 0 0 31 2 *`).
 */
export function nextRunAfter(schedule: RotationSchedule, after: number): number | null {
  if (schedule.kind === 'on-demand') return null;
  if (schedule.kind === 'once') return schedule.at > after ? schedule.at : null;
  const pattern = cronPatternFor(schedule)!;
  const cron = cronFor(pattern, schedule.timeZone);
  const interval = schedule.kind === 'daily' || schedule.kind === 'weekly' ? schedule.interval : 1;
  let cursor = new Date(after);
  for (let i = 0; i < MAX_CANDIDATES; i++) {
    let next: Date | null;
    try {
      next = cron.nextRun(cursor);
    } catch (err) {
      throw invalid(pattern, schedule.timeZone, (err as Error).message);
    }
    if (!next) break;
    const at = next.getTime();
    if (interval === 1) return at;
    const day = localDayNumber(at, schedule.timeZone);
    const units = schedule.kind === 'daily' ? day : Math.floor((day - WEEK_EPOCH_DAY) / 7);
    if (units % interval === 0) return at;
    cursor = next;
  }
  throw invalid(pattern, schedule.timeZone, 'it never comes due');
}
