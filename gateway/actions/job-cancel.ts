/** `job-cancel {jobId}`: stops a running job; it reports `cancelled` to the Router. */
import { z } from 'zod';
import { uid } from '../../core/protocol/vault-api.ts';
import { parseParams, type ActionHandler } from './action.ts';

const paramsSchema = z.object({ jobId: uid() });

export const jobCancel: ActionHandler = async (params, ctx) => {
  const parsed = parseParams('job-cancel', paramsSchema, params);
  if (!parsed.ok) return parsed.reply;
  const { jobId } = parsed.value;
  const task = ctx.tasks.get(jobId);
  if (!task) return { code: 'bad_state', message: `Job ${jobId} is not known to this gateway.` };
  if (!ctx.tasks.cancel(jobId)) return { code: 'bad_state', message: `Job ${jobId} has already ended (${task.status}).` };
  ctx.logger.info({ jobId }, 'job cancelled on request');
  return { code: 'ok', data: { jobId, status: 'cancelled' } };
};
