/**
 * When a rotation schedule is next due, strictly after a given instant. Calendar rules (days,
 * times, time zones, DST) are croner's; intervals ("every 2 weeks") are counted from a fixed
 * epoch so that every Router process computes the same instants.
 */
import { Cron } from 'croner';
import { PosternError } from '../errors.ts';
import type { RotationSchedule } from './rotation-schedule.ts';

const DAY_MS = 86_400_000;
const WEEKDAY_NUMBER = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } as const;
/** Monday 1970-01-05: weekly intervals count whole weeks from here. */
const WEEK_EPOCH = Date.UTC(1970, 0, 5);

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

function cronFor(pattern: string, timeZone: string): Cron {
  try {
    return new Cron(pattern, { timezone: timeZone, paused: true });
  } catch (err) {
    throw new PosternError('bad_request', `Invalid schedule "${pattern}" in ${timeZone}: ${(err as Error).message}`);
  }
}

/** Validates a schedule by computing its first run; throws bad_request if it can never run. */
export function nextRunAfter(schedule: RotationSchedule, after: number): number | null {
  if (schedule.kind === 'on-demand') return null;
  if (schedule.kind === 'once') return schedule.at > after ? schedule.at : null;
  const cron = cronFor(cronPatternFor(schedule)!, schedule.timeZone);
  const interval = 'interval' in schedule ? schedule.interval : 1;
  let cursor = new Date(after);
  for (let i = 0; i < 1000; i++) {
    const next = cron.nextRun(cursor);
    if (!next) return null;
    const at = next.getTime();
    if (interval === 1) return at;
    const units = schedule.kind === 'daily' ? Math.floor((at - WEEK_EPOCH) / DAY_MS) : Math.floor((at - WEEK_EPOCH) / (7 * DAY_MS));
    if (units % interval === 0) return at;
    cursor = next;
  }
  return null;
}
