/** `job-cancel {jobUid}`: stops a running job; it reports `cancelled` to the Router. */
import { z } from 'zod';
import { uid } from '../../core/protocol/vault-api.ts';
import { parseParams, type ActionHandler } from './action.ts';

const paramsSchema = z.object({ jobUid: uid() });

export const jobCancel: ActionHandler = async (params, ctx) => {
  const parsed = parseParams('job-cancel', paramsSchema, params);
  if (!parsed.ok) return parsed.reply;
  const { jobUid } = parsed.value;
  const task = ctx.tasks.get(jobUid);
  if (!task) return { code: 'bad_state', message: `Job ${jobUid} is not known to this gateway.` };
  if (!ctx.tasks.cancel(jobUid)) return { code: 'bad_state', message: `Job ${jobUid} has already ended (${task.status}).` };
  ctx.logger.info({ jobUid }, 'job cancelled on request');
  return { code: 'ok', data: { jobUid, status: 'cancelled' } };
};
