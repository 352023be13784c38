/**
 * Rotation schedules, as stored by the Router (plaintext: when, not what) and fired by the
 * Head. The CLI syntax (`--schedule daily@03:00`, …) is parsed in ./schedule-syntax.ts.
 */
import { z } from 'zod';

const time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (24-hour)');
const timeZone = z.string().min(1).max(64);
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

export const rotationScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('on-demand') }),
  z.object({ kind: z.literal('daily'), time, timeZone: timeZone.default('UTC'), interval: z.number().int().min(1).max(365).default(1) }),
  z.object({
    kind: z.literal('weekly'),
    days: z.array(weekday).min(1).max(7),
    time,
    timeZone: timeZone.default('UTC'),
    interval: z.number().int().min(1).max(52).default(1),
  }),
  z.object({ kind: z.literal('monthly'), day: z.union([z.number().int().min(1).max(31), z.literal('last')]), time, timeZone: timeZone.default('UTC') }),
  z.object({ kind: z.literal('cron'), expression: z.string().min(9).max(120), timeZone: timeZone.default('UTC') }),
  z.object({ kind: z.literal('once'), at: z.number().int().positive() }),
]);

export type RotationSchedule = z.output<typeof rotationScheduleSchema>;
