/** `job-info {jobUid}`: the status, progress and step of a job this gateway runs or ran recently. */
import type { ActionHandler } from './action.ts';

export const jobInfo: ActionHandler<'job-info'> = async ({ jobUid }, ctx) => {
  const task = ctx.tasks.get(jobUid);
  if (!task) return { code: 'bad_state', message: `Job ${jobUid} is not known to this gateway (it may have ended before the gateway restarted).` };
  return { code: 'ok', data: task };
};
