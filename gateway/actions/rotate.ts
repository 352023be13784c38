/**
 * `rotate {jobUid, recordUid, configurationUid, resourceUid, adminCredentialUid, resume?}` (its
 * contract: core/protocol/actions.ts): answer `ok` with the job id at once, then run the rotation
 * as a job (../rotation/engine.ts) whose steps, log lines and outcome reach the vault as job
 * updates. `resume: true` only settles a rotation that an earlier run left pending
 * (`postern rotation resume`).
 *
 * Record contents are never logged or reported. Hosts and user names reach the vault only sealed
 * to the pamUser's readers: the job is sealed with the pamUser's record key as soon as the
 * gateway has fetched it (../jobs.ts `sealWith`); until then it reports UIDs only.
 */
import { PosternError } from '../../core/errors.ts';
import type { ActionParams } from '../../core/protocol/actions.ts';
import { runRotation, type RotationSecrets } from '../rotation/engine.ts';
import { armedFault } from '../rotation/fault.ts';
import { RotationFailure } from '../rotation/plugin.ts';
import { pluginFor } from '../rotation/plugins/index.ts';
import { postRotationScripts } from '../rotation/scripts.ts';
import type { Job } from '../jobs.ts';
import type { ActionContext, ActionHandler, SecretsReader } from './action.ts';

// resourceUid and adminCredentialUid are what the Router resolved and authorised for the
// requester (null: none); the engine uses exactly these and looks for nothing else.
type RotateParams = ActionParams<'rotate'>;

export const rotate: ActionHandler<'rotate'> = async (p, ctx) => {
  let task: Job;
  try {
    task = ctx.tasks.start(p.jobUid, p.resume ? 'rotation-resume' : 'rotate', p.recordUid);
  } catch (err) {
    return { code: 'bad_state', message: (err as Error).message };
  }
  // The job runs on; the Router gets its answer now.
  void rotateAsJob(task, p, ctx);
  return { code: 'ok', data: { jobUid: p.jobUid } };
};

async function rotateAsJob(task: Job, p: RotateParams, ctx: ActionContext): Promise<void> {
  const fault = armedFault();
  if (fault)
    ctx.logger.warn({ jobUid: task.jobUid, fault }, 'POSTERN_GATEWAY_FAULT is set: this gateway kills itself after that rotation step (a test setting)');
  try {
    const outcome = await runRotation(
      task,
      {
        recordUid: p.recordUid,
        configurationUid: p.configurationUid,
        resourceUid: p.resourceUid,
        adminCredentialUid: p.adminCredentialUid,
        resumeOnly: p.resume === true,
      },
      {
        secrets: sealingOnFetch(task, p.recordUid, ctx.secrets),
        scrubber: ctx.scrubber,
        gatewayUid: ctx.gatewayUid,
        pluginFor,
        scripts: postRotationScripts({ ...ctx.scripts, download: (fileUid) => ctx.secrets.downloadFile(fileUid), scrubber: ctx.scrubber, logger: ctx.logger }),
      },
    );
    task.finish(ctx.scrubber.scrub(outcome.message), [ctx.scrubber.scrub(outcome.message)]);
    ctx.logger.info({ jobUid: task.jobUid, recordUid: p.recordUid }, 'rotation finished');
  } catch (err) {
    if (task.ended) return;
    const code = err instanceof RotationFailure ? err.reason : err instanceof PosternError ? err.code : 'internal';
    const message = ctx.scrubber.scrub(err instanceof Error ? err.message : String(err));
    ctx.logger.warn({ jobUid: task.jobUid, code, err: ctx.scrubber.scrubError(err) }, 'rotation failed');
    task.fail(message, [], code);
  }
}

/** The secrets reader the engine uses, sealing the job to the pamUser's readers once its record key is here. */
function sealingOnFetch(task: Job, recordUid: string, secrets: SecretsReader): RotationSecrets {
  return {
    getSecrets: async (uids) => {
      const records = await secrets.getSecrets(uids);
      const key = secrets.recordKey(recordUid);
      if (key) task.sealWith(key);
      return records;
    },
    updateSecret: (...args) => secrets.updateSecret(...args),
    finalizeSecretUpdate: (...args) => secrets.finalizeSecretUpdate(...args),
  };
}
