/**
 * `rotate {jobId, recordUid, configurationUid, resourceUid?}`.
 *
 * For now this proves the gateway can do its part of a rotation up to the point where a
 * rotation plugin would take over: it starts the job, fetches the pamUser record and the PAM
 * configuration (and the resource, when named) through the secrets API, checks that they are
 * what the Router said and that the configuration names this gateway, registers their secrets
 * with the scrubber, and then ends the job as failed because no plugin is installed.
 *
 * The rotation engine (the next issue) replaces `runRotation`: generate a password per the
 * complexity rules, store it as pending (rotation transaction), change it on the target,
 * verify, finalize or roll back, run post-rotation scripts. The action's answer stays the
 * same: `ok` with the job id at once, progress and outcome through job updates.
 *
 * Record contents are never logged or reported; only UIDs, types and revisions are.
 */
import { z } from 'zod';
import { PosternError } from '../../core/errors.ts';
import { uid } from '../../core/protocol/vault-api.ts';
import { recordSecretValues } from '../logging/record-secrets.ts';
import type { Task } from '../tasks.ts';
import { parseParams, type ActionContext, type ActionHandler } from './action.ts';

export const NO_ROTATION_PLUGIN = 'No rotation plugin is installed in this gateway version yet';

const paramsSchema = z.object({
  jobId: uid(),
  recordUid: uid(),
  configurationUid: uid(),
  resourceUid: uid().optional(),
});
type RotateParams = z.infer<typeof paramsSchema>;

export const rotate: ActionHandler = async (params, ctx) => {
  const parsed = parseParams('rotate', paramsSchema, params);
  if (!parsed.ok) return parsed.reply;
  const p = parsed.value;
  let task: Task;
  try {
    task = ctx.tasks.start(p.jobId, 'rotate', p.recordUid);
  } catch (err) {
    return { code: 'bad_state', message: (err as Error).message };
  }
  // The job runs on; the Router gets its answer now.
  void runRotation(task, p, ctx);
  return { code: 'ok', data: { jobId: p.jobId } };
};

async function runRotation(task: Task, p: RotateParams, ctx: ActionContext): Promise<void> {
  try {
    const wanted = [p.recordUid, p.configurationUid, ...(p.resourceUid ? [p.resourceUid] : [])];
    task.step('fetching records', 10, [`Fetching the pamUser record ${p.recordUid} and the PAM configuration ${p.configurationUid}${p.resourceUid ? ` and the resource ${p.resourceUid}` : ''}`]);
    const records = await ctx.secrets.getSecrets(wanted);
    for (const record of records) {
      ctx.scrubber.add(...recordSecretValues(record.data));
      if (record.pending) ctx.scrubber.add(...recordSecretValues(record.pending.data));
    }
    task.throwIfCancelled();
    const byUid = new Map(records.map((r) => [r.uid, r]));
    const user = byUid.get(p.recordUid);
    const config = byUid.get(p.configurationUid);
    if (!user || !config || (p.resourceUid && !byUid.has(p.resourceUid))) {
      throw new PosternError('not_allowed', 'A record of this rotation is not shared to the gateway’s application.');
    }
    if (user.type !== 'pamUser') throw new PosternError('bad_request', `Record ${user.uid} is a ${user.type}, not a pamUser; only pamUser records are rotated.`);
    if (config.type !== 'pamConfiguration') throw new PosternError('bad_request', `Record ${config.uid} is a ${config.type}, not a pamConfiguration.`);
    const boundTo = (config.data.fields as { gatewayUid?: unknown }).gatewayUid;
    if (boundTo !== ctx.gatewayUid()) {
      throw new PosternError('not_allowed', `PAM configuration ${config.uid} names gateway ${String(boundTo)}, not this gateway (${ctx.gatewayUid() ?? 'unknown'}).`);
    }
    task.step('records fetched', 40, [
      `Fetched pamUser ${user.uid} (revision ${user.revision}${user.pending ? ', a rotation is pending' : ''}) and pamConfiguration ${config.uid} (revision ${config.revision})`,
    ]);
    task.throwIfCancelled();
    // The rotation engine takes over here in the next version.
    task.fail(NO_ROTATION_PLUGIN);
  } catch (err) {
    if (task.ended) return;
    const code = err instanceof PosternError ? err.code : 'internal';
    const message = ctx.scrubber.scrub(err instanceof Error ? err.message : String(err));
    ctx.logger.warn({ jobId: task.jobId, code, err: ctx.scrubber.scrubError(err) }, 'rotation failed');
    task.fail(`${code}: ${message}`);
  }
}
