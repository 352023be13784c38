/**
 * The schedule syntax an administrator types (`postern rotation set --schedule SPEC --tz ZONE`),
 * turned into the stored RotationSchedule, and back into words and into the same syntax.
 *
 *   on-demand                 no schedule: rotate only when asked
 *   daily@03:00               every day at 03:00 in --tz
 *   daily@03:00/2             every 2 days
 *   weekly:mon,thu@04:30      on Mondays and Thursdays (ranges too: weekly:mon-fri@06:00)
 *   weekly:fri@22:00/2        every other Friday
 *   monthly:15@02:00          on the 15th (months without that day are skipped)
 *   monthly:last@02:00        on the last day of each month
 *   cron:0 3 * * *            a 5-field cron expression (minute hour day-of-month month day-of-week)
 *   once:2026-12-01T03:00     once, at that wall-clock time in --tz (or with an explicit Z / ±HH:MM)
 *   once:+90s  once:+10m      once, that long from now (s, m, h, d, w; combinable: +1h30m)
 *
 * Every mistake is a `bad_request` whose message says what was wrong and what is accepted.
 */
import { PosternError } from '../errors.ts';
import { nextRunAfter } from './next-run.ts';
import type { RotationSchedule } from './rotation-schedule.ts';

export const SCHEDULE_FORMS = [
  'on-demand',
  'daily@03:00',
  'daily@03:00/2',
  'weekly:mon,thu@04:30',
  'weekly:fri@22:00/2',
  'monthly:15@02:00',
  'monthly:last@02:00',
  'cron:0 3 * * *',
  'once:2026-12-01T03:00',
  'once:+10m',
] as const;

export const SCHEDULE_HELP = `Schedules (--schedule SPEC; times are in --tz, default UTC):
  on-demand                 no schedule: rotate only with \`postern rotate\`
  daily@03:00               every day at 03:00
  daily@03:00/2             every 2 days at 03:00
  weekly:mon,thu@04:30      every Monday and Thursday (ranges work: weekly:mon-fri@06:00)
  weekly:fri@22:00/2        every other Friday at 22:00
  monthly:15@02:00          on the 15th of each month (months without that day are skipped)
  monthly:last@02:00        on the last day of each month
  cron:0 3 * * *            5-field cron: minute hour day-of-month month day-of-week
  once:2026-12-01T03:00     once, at that time in --tz (or give Z / +02:00 explicitly)
  once:+90s  once:+10m      once, that long from now (s, m, h, d, w; e.g. once:+1h30m)`;

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
type Weekday = (typeof WEEKDAYS)[number];
const WEEKDAY_NAMES: Record<Weekday, string> = {
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
  sun: 'Sunday',
};

const MAX_INTERVAL = { daily: 365, weekly: 52 } as const;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

function bad(message: string, spec?: string): PosternError {
  return new PosternError('bad_request', spec === undefined ? message : `Schedule "${spec}": ${message}`);
}

function formsList(): string {
  return SCHEDULE_FORMS.join(', ');
}

/** An IANA time zone, in its canonical spelling (`utc` → `UTC`). */
export function canonicalTimeZone(zone: string): string {
  const trimmed = zone.trim();
  if (trimmed === '') throw bad('The time zone is empty; give an IANA name such as UTC, Europe/London or America/New_York.');
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
  } catch {
    throw bad(`Unknown time zone "${trimmed}"; give an IANA name such as UTC, Europe/London or America/New_York.`);
  }
}

function parseTime(text: string, spec: string): string {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw bad(`"${text}" is not a time; expected HH:MM on a 24-hour clock (e.g. 03:00 or 22:30).`, spec);
  return `${m[1]!.padStart(2, '0')}:${m[2]}`;
}

function parseInterval(text: string | undefined, kind: 'daily' | 'weekly', spec: string): number {
  if (text === undefined) return 1;
  const n = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  const max = MAX_INTERVAL[kind];
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw bad(`the interval "/${text}" must be a whole number from 1 to ${max} (${kind === 'daily' ? 'days' : 'weeks'}).`, spec);
  }
  return n;
}

function weekday(text: string, spec: string): Weekday {
  const key = text.trim().toLowerCase();
  const found = WEEKDAYS.find((d) => d === key || WEEKDAY_NAMES[d].toLowerCase() === key);
  if (!found) throw bad(`"${text}" is not a weekday; use ${WEEKDAYS.join(', ')} (comma-separated, or a range such as mon-fri).`, spec);
  return found;
}

function parseDays(text: string, spec: string): Weekday[] {
  const days = new Set<Weekday>();
  for (const part of text.split(',')) {
    if (part.trim() === '') throw bad('an empty weekday in the list; write e.g. weekly:mon,thu@04:30.', spec);
    const range = part.split('-');
    if (range.length === 2) {
      const from = WEEKDAYS.indexOf(weekday(range[0]!, spec));
      const to = WEEKDAYS.indexOf(weekday(range[1]!, spec));
      if (from > to) throw bad(`the range "${part}" runs backwards; weeks start on Monday (e.g. mon-fri, sat-sun).`, spec);
      for (let i = from; i <= to; i++) days.add(WEEKDAYS[i]!);
    } else if (range.length === 1) {
      days.add(weekday(part, spec));
    } else {
      throw bad(`"${part}" is not a weekday or a range.`, spec);
    }
  }
  return WEEKDAYS.filter((d) => days.has(d));
}

// ---- wall-clock time in a zone ----

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(at: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  return {
    year: Number(parts['year']),
    month: Number(parts['month']),
    day: Number(parts['day']),
    hour: Number(parts['hour']),
    minute: Number(parts['minute']),
    second: Number(parts['second']),
  };
}

function offsetAt(at: number, timeZone: string): number {
  const w = wallClock(at, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(at / 1000) * 1000;
}

/** The instant when clocks in `timeZone` show the given wall time; bad_request inside a DST gap. */
export function zonedTimeToInstant(
  wall: { year: number; month: number; day: number; hour: number; minute: number; second?: number },
  timeZone: string,
): number {
  const second = wall.second ?? 0;
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, second);
  const check = new Date(asUtc);
  if (check.getUTCFullYear() !== wall.year || check.getUTCMonth() !== wall.month - 1 || check.getUTCDate() !== wall.day) {
    throw bad(`${wall.year}-${String(wall.month).padStart(2, '0')}-${String(wall.day).padStart(2, '0')} is not a date.`);
  }
  // Two passes settle the offset on either side of a DST change.
  let at = asUtc - offsetAt(asUtc, timeZone);
  at = asUtc - offsetAt(at, timeZone);
  const back = wallClock(at, timeZone);
  if (back.year !== wall.year || back.month !== wall.month || back.day !== wall.day || back.hour !== wall.hour || back.minute !== wall.minute) {
    const hh = String(wall.hour).padStart(2, '0');
    const mm = String(wall.minute).padStart(2, '0');
    throw bad(`${hh}:${mm} does not exist on that day in ${timeZone} (the clocks change); pick another time.`);
  }
  return at;
}

function parseOnce(text: string, timeZone: string, now: number, spec: string): number {
  const value = text.trim();
  const relative = /^\+((?:\d{1,6}[smhdw])+)$/i.exec(value);
  let at: number;
  if (relative) {
    let ms = 0;
    for (const [, n, unit] of relative[1]!.matchAll(/(\d+)([smhdw])/gi)) ms += Number(n) * UNIT_MS[unit!.toLowerCase() as keyof typeof UNIT_MS];
    if (ms < 1000) throw bad('a relative time must be at least +1s.', spec);
    at = now + ms;
  } else {
    const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(value);
    if (!m) {
      throw bad(`"${value}" is not a date and time; write once:YYYY-MM-DDTHH:MM (in --tz), with Z or ±HH:MM for an explicit offset, or once:+10m.`, spec);
    }
    const [, y, mo, d, h, mi, s, zone] = m;
    if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) throw bad(`"${value}" has an impossible time of day.`, spec);
    if (zone) {
      const iso = `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${zone.toUpperCase() === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`;
      at = Date.parse(iso);
      const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
      if (Number.isNaN(at) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) throw bad(`"${value}" is not a date.`, spec);
    } else {
      try {
        at = zonedTimeToInstant({ year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi), second: Number(s ?? 0) }, timeZone);
      } catch (err) {
        throw bad((err as Error).message, spec);
      }
    }
  }
  if (at <= now) throw bad(`${new Date(at).toISOString()} is in the past; a run-once schedule must be in the future.`, spec);
  return at;
}

/**
 * Parses a schedule as typed on the command line. `timeZone` (IANA, default UTC) applies to
 * every calendar form and to a `once:` time written without an offset; `now` is for the
 * relative `once:+10m` forms and the "in the past" check.
 */
export function parseScheduleSpec(spec: string, timeZone = 'UTC', now: number = Date.now()): RotationSchedule {
  const text = spec.trim();
  if (text === '') throw bad(`The schedule is empty. Use one of: ${formsList()}.`);
  const colon = text.indexOf(':');
  const at = text.indexOf('@');
  const cut = [colon, at].filter((i) => i >= 0);
  const kind = (cut.length ? text.slice(0, Math.min(...cut)) : text).trim().toLowerCase();
  const rest = cut.length ? text.slice(Math.min(...cut)) : '';

  let schedule: RotationSchedule;
  switch (kind) {
    case 'on-demand':
    case 'ondemand':
    case 'manual': {
      if (rest !== '') throw bad('on-demand takes nothing after it.', text);
      return { kind: 'on-demand' };
    }
    case 'daily': {
      const m = /^@([^/]+)(?:\/(.*))?$/.exec(rest);
      if (!m) throw bad('write daily@HH:MM, optionally /N for every N days (daily@03:00/2).', text);
      schedule = {
        kind: 'daily',
        time: parseTime(m[1]!.trim(), text),
        timeZone: canonicalTimeZone(timeZone),
        interval: parseInterval(m[2]?.trim(), 'daily', text),
      };
      break;
    }
    case 'weekly': {
      const m = /^:([^@]*)@([^/]+)(?:\/(.*))?$/.exec(rest);
      if (!m || m[1]!.trim() === '') throw bad('write weekly:DAYS@HH:MM, e.g. weekly:mon,thu@04:30 or weekly:fri@22:00/2 (every 2 weeks).', text);
      schedule = {
        kind: 'weekly',
        days: parseDays(m[1]!, text),
        time: parseTime(m[2]!.trim(), text),
        timeZone: canonicalTimeZone(timeZone),
        interval: parseInterval(m[3]?.trim(), 'weekly', text),
      };
      break;
    }
    case 'monthly': {
      const m = /^:([^@]*)@(.+)$/.exec(rest);
      if (!m) throw bad('write monthly:DAY@HH:MM with DAY 1 to 31 or "last", e.g. monthly:15@02:00 or monthly:last@02:00.', text);
      const dayText = m[1]!.trim().toLowerCase();
      const timeText = m[2]!.trim();
      if (timeText.includes('/')) throw bad('monthly schedules take no /N interval; use cron: for anything more unusual.', text);
      let day: number | 'last';
      if (dayText === 'last') day = 'last';
      else {
        day = /^\d{1,2}$/.test(dayText) ? Number(dayText) : Number.NaN;
        if (!Number.isInteger(day) || day < 1 || day > 31) throw bad(`"${m[1]}" is not a day of the month; use 1 to 31 or "last".`, text);
      }
      schedule = { kind: 'monthly', day, time: parseTime(timeText, text), timeZone: canonicalTimeZone(timeZone) };
      break;
    }
    case 'cron': {
      if (!rest.startsWith(':')) throw bad('write cron:EXPRESSION, e.g. "cron:0 3 * * *".', text);
      const expression = rest.slice(1).trim().replace(/\s+/g, ' ');
      const fields = expression === '' ? 0 : expression.split(' ').length;
      if (fields !== 5) {
        throw bad(
          `a cron expression has 5 fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *"; this one has ${fields}.${fields === 6 ? ' Seconds are not supported.' : ''}`,
          text,
        );
      }
      schedule = { kind: 'cron', expression, timeZone: canonicalTimeZone(timeZone) };
      break;
    }
    case 'once': {
      if (!rest.startsWith(':')) throw bad('write once:YYYY-MM-DDTHH:MM or once:+10m.', text);
      return { kind: 'once', at: parseOnce(rest.slice(1), canonicalTimeZone(timeZone), now, text) };
    }
    default:
      throw bad(`Unrecognised schedule "${text}". Use one of: ${formsList()}.`);
  }

  let next: number | null;
  try {
    next = nextRunAfter(schedule, now);
  } catch (err) {
    // next-run.ts says `Invalid schedule "<internal pattern>" in <zone>: <croner's reason>`.
    const reason = (err as Error).message
      .replace(/^Invalid schedule "[^"]*" in [^:]*: /, '')
      .replace(/^CronPattern: /, '')
      .replace(/\.$/, '');
    throw bad(`${schedule.kind === 'cron' ? 'not a valid cron expression' : 'not a valid schedule'} (${reason}).`, text);
  }
  if (next === null) throw bad('this schedule never runs (no such date); check the day and month.', text);
  return schedule;
}

function list(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th'}`;
}

/** The schedule in words: "every Monday and Thursday at 04:30 (Europe/London)". */
export function describeSchedule(schedule: RotationSchedule): string {
  switch (schedule.kind) {
    case 'on-demand':
      return 'on demand only (no schedule)';
    case 'daily':
      return `${schedule.interval === 1 ? 'every day' : `every ${schedule.interval} days`} at ${schedule.time} (${schedule.timeZone})`;
    case 'weekly': {
      const everyDay = schedule.days.length === 7;
      const weekdays = schedule.days.length === 5 && !schedule.days.includes('sat') && !schedule.days.includes('sun');
      const days = everyDay ? 'every day' : weekdays ? 'Monday to Friday' : list(schedule.days.map((d) => WEEKDAY_NAMES[d]));
      const when =
        schedule.interval === 1
          ? everyDay
            ? 'every day'
            : `every ${days}`
          : `${schedule.interval === 2 ? 'every other week' : `every ${schedule.interval} weeks`} on ${days}`;
      return `${when} at ${schedule.time} (${schedule.timeZone})`;
    }
    case 'monthly': {
      const skipped = schedule.day !== 'last' && schedule.day > 28 ? `; months without a ${ordinal(schedule.day)} are skipped` : '';
      return `${schedule.day === 'last' ? 'on the last day' : `on the ${ordinal(schedule.day)}`} of every month at ${schedule.time} (${schedule.timeZone}${skipped})`;
    }
    case 'cron':
      return `cron "${schedule.expression}" (${schedule.timeZone})`;
    case 'once':
      return `once, at ${new Date(schedule.at).toISOString()}`;
  }
}

/** The schedule in the `--schedule` syntax (with the time zone to pass as --tz, if any). */
export function formatScheduleSpec(schedule: RotationSchedule): { spec: string; timeZone: string | null } {
  switch (schedule.kind) {
    case 'on-demand':
      return { spec: 'on-demand', timeZone: null };
    case 'daily':
      return { spec: `daily@${schedule.time}${schedule.interval > 1 ? `/${schedule.interval}` : ''}`, timeZone: schedule.timeZone };
    case 'weekly':
      return { spec: `weekly:${schedule.days.join(',')}@${schedule.time}${schedule.interval > 1 ? `/${schedule.interval}` : ''}`, timeZone: schedule.timeZone };
    case 'monthly':
      return { spec: `monthly:${schedule.day}@${schedule.time}`, timeZone: schedule.timeZone };
    case 'cron':
      return { spec: `cron:${schedule.expression}`, timeZone: schedule.timeZone };
    case 'once':
      return { spec: `once:${new Date(schedule.at).toISOString().replace(/\.000Z$/, 'Z')}`, timeZone: null };
  }
}
