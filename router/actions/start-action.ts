/**
 * Authorise an action and hand it to the gateway that serves its target. Used by the vault's
 * `action.send` and by the Head's scheduler, so a scheduled rotation passes exactly the checks
 * a person's would. Messages to the gateway carry UIDs only.
 *
 * The action's contract (core/protocol/actions.ts) says what it addresses and what the Router
 * adds; the Router's catalog (./catalog.ts) says who may send it and how each param is filled.
 * Which gateway an action goes to is decided here alone, by what it addresses: a record or a PAM
 * configuration goes to the configuration's bound gateway (a feature it allows), a job to the
 * gateway running it, `gateway-info` to a gateway the requester manages. The gateway then checks
 * the configuration record names it (gateway/actions/binding.ts).
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import {
  ACTION_CONTRACTS,
  ACTION_NAMES,
  isActionName,
  isRotationResourceType,
  parseCallerParams,
  type ActionContract,
  type ActionName,
} from '../../core/protocol/actions.ts';
import type { ActionOutcome, VaultInput } from '../../core/protocol/vault-api.ts';
import type { Database } from '../../core/storage/schema.ts';
import { requireReadableRecord } from '../access/records.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import { createJob, failJob } from '../jobs/store.ts';
import { requirePolicy } from '../policy/policies.ts';
import { iceServersFor, type RelayConfig } from '../relay/ice-servers.ts';
import { ACTIONS, gatewayParams, type PamFeature, type Resolved, type RouterAction } from './catalog.ts';
import { resolveLinkedResource } from './linked-resource.ts';

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
  if (access.record.type !== 'pamConfiguration')
    throw new PosternError('bad_request', `Record ${configUid} is a ${access.record.type}, not a pamConfiguration.`);
  const binding = await db.selectFrom('pam_configurations').selectAll().where('config_uid', '=', configUid).executeTakeFirst();
  if (!binding)
    throw new PosternError(
      'bad_state',
      `PAM configuration ${configUid} names no gateway yet; save it again with a gatewayUid (\`postern record edit ${configUid} --field gatewayUid=…\`).`,
    );
  if (feature && (JSON.parse(binding.features) as Record<string, boolean>)[feature] !== true) {
    throw new PosternError('not_allowed', `The "${feature}" feature is not enabled on PAM configuration ${configUid}.`, {
      configurationUid: configUid,
      feature,
    });
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
  if (gateway?.kind !== 'gateway' || gateway.owner_uid !== userUid)
    throw new PosternError('not_allowed', `You do not manage a gateway ${gatewayUid}.`, { gatewayUid });
  return gateway;
}

export async function startAction(env: ActionEnv, actor: ActionActor, input: VaultInput<'action.send'>): Promise<ActionOutcome> {
  if (!isActionName(input.action)) throw new PosternError('bad_request', `Unknown action "${input.action}". Known actions: ${ACTION_NAMES.join(', ')}.`);
  return start(env, actor, input.action, input);
}

async function start<N extends ActionName>(env: ActionEnv, actor: ActionActor, name: N, input: VaultInput<'action.send'>): Promise<ActionOutcome> {
  const contract = ACTION_CONTRACTS[name];
  const spec: RouterAction<N> = ACTIONS[name];
  if (spec.policy) await requirePolicy(env.db, actor.userUid, spec.policy);
  const caller = parseCallerParams(name, input.params);

  // Everything below is the Router's own word; it goes over the caller's parameters.
  const resolved: Record<string, unknown> = { requestedBy: actor.userUid };
  let gatewayUid: string;
  let recordUid: string | null = null;
  switch (contract.target) {
    case 'record': {
      if (!input.recordUid) throw new PosternError('bad_request', `"${name}" needs a record UID.`);
      const { record } = await requireReadableRecord(env.db, actor.userUid, input.recordUid);
      const recordTypes = (contract as ActionContract).recordTypes;
      if (recordTypes && !recordTypes.includes(record.type)) throw wrongRecordType(name, input.recordUid, record.type, recordTypes);
      recordUid = input.recordUid;
      const scheduled = input.configurationUid
        ? null
        : await env.db
            .selectFrom('rotation_schedules')
            .select(['configuration_uid', 'resource_uid'])
            .where('record_uid', '=', input.recordUid)
            .executeTakeFirst();
      const configurationUid = input.configurationUid ?? scheduled?.configuration_uid;
      if (!configurationUid)
        throw new PosternError('bad_request', `Which PAM configuration should "${name}" go through? Pass --config, or set one with \`postern rotation set\`.`);
      gatewayUid = (await boundConfiguration(env.db, actor.userUid, configurationUid, spec.feature)).gateway_uid;
      Object.assign(resolved, { recordUid, configurationUid });
      if (contract.resource) {
        Object.assign(
          resolved,
          await resolveLinkedResource(env.db, actor.userUid, { recordUid, named: input.resourceUid, scheduled: scheduled?.resource_uid }),
        );
      } else if (input.resourceUid) {
        throw new PosternError('bad_request', `"${name}" acts on the record itself and takes no resource.`);
      }
      break;
    }
    case 'configuration': {
      if (!input.configurationUid) throw new PosternError('bad_request', `"${name}" needs a PAM configuration UID (--config).`);
      gatewayUid = (await boundConfiguration(env.db, actor.userUid, input.configurationUid, spec.feature)).gateway_uid;
      resolved['configurationUid'] = input.configurationUid;
      break;
    }
    case 'job': {
      if (!input.jobUid) throw new PosternError('bad_request', `"${name}" needs a job UID.`);
      const job = await env.db.selectFrom('jobs').selectAll().where('uid', '=', input.jobUid).executeTakeFirst();
      if (!job) throw new PosternError('not_allowed', `You cannot see job ${input.jobUid}.`);
      if (job.owner_uid !== actor.userUid) {
        if (!job.record_uid) throw new PosternError('not_allowed', `You cannot see job ${input.jobUid}.`);
        await requireReadableRecord(env.db, actor.userUid, job.record_uid);
      }
      gatewayUid = job.gateway_uid;
      recordUid = job.record_uid;
      resolved['jobUid'] = job.uid;
      break;
    }
    case 'gateway': {
      if (!input.gatewayUid) throw new PosternError('bad_request', `"${name}" needs a gateway UID.`);
      await requireOwnGateway(env.db, actor.userUid, input.gatewayUid);
      gatewayUid = input.gatewayUid;
      break;
    }
  }

  if (contract.relay) resolved['iceServers'] = iceServersFor(env.relay, gatewayUid, env.now()).iceServers;

  let jobUid: string | undefined;
  if (contract.job) {
    jobUid = await createJob(env.db, { gatewayUid, ownerUid: actor.userUid, action: name, recordUid, createdBy: actor.label, now: env.now() });
    resolved['jobUid'] = jobUid;
  }
  // `resolved` holds what the contract's flags and target say Resolved<N> holds (filled above).
  const params = gatewayParams(spec, resolved as Resolved<N>, caller);
  const result = await env.hub.deliver(gatewayUid, name, params, input.timeoutMs ?? spec.defaultTimeoutMs);
  if (jobUid && result.code !== 'ok')
    await failJob(env.db, jobUid, 'failed', `${result.code}: ${result.message ?? 'the gateway did not start the job'}`, env.now());
  return { ...result, gatewayUid, ...(jobUid ? { jobUid } : {}) };
}

/** An action sent to a record of a type it does not work on, said before any job or gateway is involved. */
function wrongRecordType(name: ActionName, recordUid: string, type: string, expected: readonly string[]): PosternError {
  const hint = isRotationResourceType(type)
    ? ` It is a resource: rotate the account that lives on it, \`postern rotate ACCOUNT --resource ${recordUid}\`.`
    : '';
  return new PosternError('bad_request', `"${name}" works on a ${expected.join(' or ')}; record ${recordUid} is a ${type}.${hint}`, { recordUid, type });
}
