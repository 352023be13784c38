import type { Context } from 'hono';
import { ZodError } from 'zod';
import { PosternError } from '../../core/errors.ts';
import { databaseFault, describeDatabaseFault } from '../health/database-faults.ts';
import { bodyReadStarted } from './body.ts';
import type { Logger } from '../../core/logger.ts';

/** Turns anything thrown by a handler into a typed error; unknown errors never leak detail. */
export function toPosternError(err: unknown): PosternError {
  if (err instanceof PosternError) return err;
  if (err instanceof ZodError) {
    const issues = err.issues.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0];
    return new PosternError('bad_request', first ? `Invalid request: ${first.path || '(body)'}: ${first.message}` : 'Invalid request.', { issues });
  }
  const fault = databaseFault(err);
  if (fault)
    return new PosternError('unavailable', describeDatabaseFault(fault), { retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS, dependency: 'database', fault });
  return new PosternError('internal', 'The Router hit an internal error; the details are in its log.');
}

/** What a client is told to wait while the database is away: about one pool connect timeout. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

export function errorResponse(c: Context, err: unknown, logger: Logger): Response {
  const error = toPosternError(err);
  // 'unavailable' is logged once per outage by router/health/database-health.ts, not per request.
  if (error.code === 'internal') {
    // Log the stack but not the error message of foreign errors verbatim: drivers can echo SQL
    // parameters, which are ciphertext at worst, but we keep the log to names and stacks.
    const e = err instanceof Error ? err : new Error(String(err));
    logger.error({ err: { name: e.name, stack: e.stack?.split('\n').slice(0, 8).join('\n') }, path: c.req.path }, 'internal error');
  }
  const headers: Record<string, string> = {};
  const retry = error.details?.['retryAfterSeconds'];
  if (typeof retry === 'number') headers['retry-after'] = String(retry);
  // The rest of an oversized body, or a body refused from the headers alone, was not read:
  // close the connection rather than let the server drain megabytes nobody will use.
  if (error.code === 'payload_too_large' || bodyLeftUnread(c.req.raw)) headers['connection'] = 'close';
  return c.json(error.toJSON(), error.httpStatus as 400, headers);
}

/** Whether the request came with a body that the handler never started reading. */
function bodyLeftUnread(request: Request): boolean {
  const declared = request.headers.get('content-length');
  const hasBody = (declared !== null && declared !== '0') || request.headers.has('transfer-encoding');
  return hasBody && !bodyReadStarted(request) && !request.bodyUsed;
}
