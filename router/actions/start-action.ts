/**
 * Authorise an action and hand it to the gateway that serves its target. Used by the vault's
 * `action.send` and by the Head's scheduler, so a scheduled rotation passes exactly the checks
 * a person's would. Messages to the gateway carry UIDs only.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { ActionOutcome, VaultInput } from '../../core/protocol/vault-api.ts';
import type { Database } from '../../core/storage/schema.ts';
import { requireReadableRecord } from '../access/records.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import { createJob, failJob } from '../jobs/store.ts';
import { requirePolicy } from '../policy/policies.ts';
import { iceServersFor, type RelayConfig } from '../relay/ice-servers.ts';
import { ACTIONS, type PamFeature } from './catalog.ts';

export interface ActionEnv {
  db: Kysely<Database>;
  hub: GatewayHub;
  now: () => number;
  /** For WebRTC actions: the gateway's own short-lived TURN credentials go with the action. */
  relay?: RelayConfig | null;
}

export interface ActionActor {
  userUid: string;
  /** Who to name in the job: an email, or `schedule` for the Head. */
  label: string;
}

async function boundConfiguration(db: Kysely<Database>, userUid: string, configUid: string, feature: PamFeature | undefined) {
  const access = await requireReadableRecord(db, userUid, configUid);
  if (access.record.type !== 'pamConfiguration') throw new PosternError('bad_request', `Record ${configUid} is a ${access.record.type}, not a pamConfiguration.`);
  const binding = await db.selectFrom('pam_configurations').selectAll().where('config_uid', '=', configUid).executeTakeFirst();
  if (!binding) throw new PosternError('bad_state', `PAM configuration ${configUid} names no gateway yet; save it again with a gatewayUid (\`postern record edit ${configUid} --field gatewayUid=…\`).`);
  if (feature && (JSON.parse(binding.features) as Record<string, boolean>)[feature] !== true) {
    throw new PosternError('not_allowed', `The "${feature}" feature is not enabled on PAM configuration ${configUid}.`, { configurationUid: configUid, feature });
  }
  return binding;
}

export async function requireOwnGateway(db: Kysely<Database>, userUid: string, gatewayUid: string) {
  const gateway = await db
    .selectFrom('devices')
    .innerJoin('applications', 'applications.uid', 'devices.app_uid')
    .select(['devices.uid', 'devices.kind', 'devices.revoked_at', 'applications.owner_uid'])
    .where('devices.uid', '=', gatewayUid)
    .executeTakeFirst();
  if (!gateway || gateway.kind !== 'gateway' || gateway.owner_uid !== userUid) throw new PosternError('not_allowed', `You do not manage a gateway ${gatewayUid}.`, { gatewayUid });
  return gateway;
}

/**
 * The resource a pamUser belongs to, from its `credential` link (`postern record add … --link`),
 * when it has exactly one. Named here so the gateway fetches that record directly instead of
 * scanning everything shared with it.
 */
async function linkedResource(db: Kysely<Database>, recordUid: string): Promise<string | undefined> {
  const parents = await db.selectFrom('record_links').select('parent_uid').where('child_uid', '=', recordUid).where('kind', '=', 'credential').limit(2).execute();
  return parents.length === 1 ? parents[0]!.parent_uid : undefined;
}

export async function startAction(env: ActionEnv, actor: ActionActor, input: VaultInput<'action.send'>): Promise<ActionOutcome> {
  const spec = ACTIONS[input.action];
  if (!spec) throw new PosternError('bad_request', `Unknown action "${input.action}". Known actions: ${Object.keys(ACTIONS).join(', ')}.`);
  if (spec.policy) await requirePolicy(env.db, actor.userUid, spec.policy);

  const params: Record<string, unknown> = { ...(input.params ?? {}) };
  let gatewayUid: string;
  let recordUid: string | null = null;
  switch (spec.target) {
    case 'record': {
      if (!input.recordUid) throw new PosternError('bad_request', `"${input.action}" needs a record UID.`);
      await requireReadableRecord(env.db, actor.userUid, input.recordUid);
      recordUid = input.recordUid;
      const scheduled = input.configurationUid
        ? null
        : await env.db.selectFrom('rotation_schedules').select(['configuration_uid', 'resource_uid']).where('record_uid', '=', input.recordUid).executeTakeFirst();
      const configurationUid = input.configurationUid ?? scheduled?.configuration_uid;
      if (!configurationUid) throw new PosternError('bad_request', `Which PAM configuration should "${input.action}" go through? Pass --config, or set one with \`postern rotation set\`.`);
      gatewayUid = (await boundConfiguration(env.db, actor.userUid, configurationUid, spec.feature)).gateway_uid;
      let resourceUid = input.resourceUid ?? scheduled?.resource_uid ?? undefined;
      if (resourceUid) await requireReadableRecord(env.db, actor.userUid, resourceUid);
      else {
        // Not named: the linked resource, if this user may read it; else the gateway looks for it.
        const linked = await linkedResource(env.db, input.recordUid);
        if (linked && (await requireReadableRecord(env.db, actor.userUid, linked).then(() => true, () => false))) resourceUid = linked;
      }
      Object.assign(params, { recordUid, configurationUid, ...(resourceUid ? { resourceUid } : {}) });
      break;
    }
    case 'configuration': {
      if (!input.configurationUid) throw new PosternError('bad_request', `"${input.action}" needs a PAM configuration UID (--config).`);
      gatewayUid = (await boundConfiguration(env.db, actor.userUid, input.configurationUid, spec.feature)).gateway_uid;
      params['configurationUid'] = input.configurationUid;
      break;
    }
    case 'job': {
      if (!input.jobUid) throw new PosternError('bad_request', `"${input.action}" needs a job UID.`);
      const job = await env.db.selectFrom('jobs').selectAll().where('uid', '=', input.jobUid).executeTakeFirst();
      if (!job) throw new PosternError('not_allowed', `You cannot see job ${input.jobUid}.`);
      if (job.owner_uid !== actor.userUid) {
        if (!job.record_uid) throw new PosternError('not_allowed', `You cannot see job ${input.jobUid}.`);
        await requireReadableRecord(env.db, actor.userUid, job.record_uid);
      }
      gatewayUid = job.gateway_uid;
      recordUid = job.record_uid;
      params['jobId'] = job.uid;
      break;
    }
    case 'gateway': {
      if (!input.gatewayUid) throw new PosternError('bad_request', `"${input.action}" needs a gateway UID.`);
      await requireOwnGateway(env.db, actor.userUid, input.gatewayUid);
      gatewayUid = input.gatewayUid;
      break;
    }
  }

  if (spec.webrtc) params['iceServers'] = iceServersFor(env.relay, gatewayUid, env.now()).iceServers;

  let jobUid: string | undefined;
  if (spec.job) {
    jobUid = await createJob(env.db, { gatewayUid, ownerUid: actor.userUid, action: input.action, recordUid, createdBy: actor.label, now: env.now() });
    params['jobId'] = jobUid;
  }
  const result = await env.hub.deliver(gatewayUid, input.action, params, input.timeoutMs ?? spec.defaultTimeoutMs);
  if (jobUid && result.code !== 'ok') await failJob(env.db, jobUid, 'failed', `${result.code}: ${result.message ?? 'the gateway did not start the job'}`, env.now());
  return { ...result, gatewayUid, ...(jobUid ? { jobUid } : {}) };
}
