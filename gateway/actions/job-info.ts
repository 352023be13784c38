/** `job-info {jobUid}`: the status, progress and step of a job this gateway runs or ran recently. */
import { z } from 'zod';
import { uid } from '../../core/protocol/vault-api.ts';
import { parseParams, type ActionHandler } from './action.ts';

const paramsSchema = z.object({ jobUid: uid() });

export const jobInfo: ActionHandler = async (params, ctx) => {
  const parsed = parseParams('job-info', paramsSchema, params);
  if (!parsed.ok) return parsed.reply;
  const task = ctx.tasks.get(parsed.value.jobUid);
  if (!task) return { code: 'bad_state', message: `Job ${parsed.value.jobUid} is not known to this gateway (it may have ended before the gateway restarted).` };
  return { code: 'ok', data: task };
};
