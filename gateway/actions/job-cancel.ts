/** `job-cancel {jobUid}`: stops a running job; it reports `cancelled` to the Router. */
import type { ActionHandler } from './action.ts';

export const jobCancel: ActionHandler<'job-cancel'> = async ({ jobUid }, ctx) => {
  const task = ctx.tasks.get(jobUid);
  if (!task) return { code: 'bad_state', message: `Job ${jobUid} is not known to this gateway.` };
  if (!ctx.tasks.cancel(jobUid)) return { code: 'bad_state', message: `Job ${jobUid} has already ended (${task.status}).` };
  ctx.logger.info({ jobUid }, 'job cancelled on request');
  return { code: 'ok', data: { jobUid, status: 'cancelled' } };
};
