/**
 * `rotate {jobId, recordUid, configurationUid, resourceUid?, resume?}`: answer `ok` with the job
 * id at once, then run the rotation as a job (../rotation/engine.ts) whose steps, log lines and
 * outcome reach the vault as job updates. `resume: true` only settles a rotation that an
 * earlier run left pending (`postern rotation resume`).
 *
 * Record contents are never logged or reported; only UIDs, types, hosts and user names are.
 */
import { z } from 'zod';
import { PosternError } from '../../core/errors.ts';
import { uid } from '../../core/protocol/vault-api.ts';
import { runRotation } from '../rotation/engine.ts';
import { armedFault } from '../rotation/fault.ts';
import { RotationFailure } from '../rotation/plugin.ts';
import { pluginFor } from '../rotation/plugins/index.ts';
import { postRotationScripts } from '../rotation/scripts.ts';
import type { Task } from '../tasks.ts';
import { parseParams, type ActionContext, type ActionHandler } from './action.ts';

const paramsSchema = z.object({
  jobId: uid(),
  recordUid: uid(),
  configurationUid: uid(),
  resourceUid: uid().optional(),
  resume: z.boolean().optional(),
});
type RotateParams = z.infer<typeof paramsSchema>;

export const rotate: ActionHandler = async (params, ctx) => {
  const parsed = parseParams('rotate', paramsSchema, params);
  if (!parsed.ok) return parsed.reply;
  const p = parsed.value;
  let task: Task;
  try {
    task = ctx.tasks.start(p.jobId, p.resume ? 'rotation-resume' : 'rotate', p.recordUid);
  } catch (err) {
    return { code: 'bad_state', message: (err as Error).message };
  }
  // The job runs on; the Router gets its answer now.
  void rotateAsJob(task, p, ctx);
  return { code: 'ok', data: { jobId: p.jobId } };
};

async function rotateAsJob(task: Task, p: RotateParams, ctx: ActionContext): Promise<void> {
  const fault = armedFault();
  if (fault) ctx.logger.warn({ jobId: task.jobId, fault }, 'POSTERN_GATEWAY_FAULT is set: this gateway kills itself after that rotation step (a test setting)');
  try {
    const outcome = await runRotation(
      task,
      { recordUid: p.recordUid, configurationUid: p.configurationUid, resourceUid: p.resourceUid, resumeOnly: p.resume === true },
      {
        secrets: ctx.secrets,
        scrubber: ctx.scrubber,
        gatewayUid: ctx.gatewayUid,
        pluginFor,
        scripts: postRotationScripts({ download: (fileUid) => ctx.secrets.downloadFile(fileUid), scrubber: ctx.scrubber, logger: ctx.logger }),
      },
    );
    task.finish(ctx.scrubber.scrub(outcome.message), [ctx.scrubber.scrub(outcome.message)]);
    ctx.logger.info({ jobId: task.jobId, recordUid: p.recordUid }, 'rotation finished');
  } catch (err) {
    if (task.ended) return;
    const code = err instanceof RotationFailure ? err.reason : err instanceof PosternError ? err.code : 'internal';
    const message = ctx.scrubber.scrub(err instanceof Error ? err.message : String(err));
    ctx.logger.warn({ jobId: task.jobId, code, err: ctx.scrubber.scrubError(err) }, 'rotation failed');
    task.fail(`${code}: ${message}`);
  }
}
