/**
 * Authorise an action and hand it to the gateway that serves its target. Used by the vault's
 * `action.send` and by the Head's scheduler, so a scheduled rotation passes exactly the checks
 * a person's would. Messages to the gateway carry UIDs only.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { ActionOutcome, VaultInput } from '../../core/protocol/vault-api.ts';
import type { Database } from '../../core/storage/schema.ts';
import { findUserRecordAccess, requireReadableRecord } from '../access/records.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import { createJob, failJob } from '../jobs/store.ts';
import { requirePolicy } from '../policy/policies.ts';
import { iceServersFor, type RelayConfig } from '../relay/ice-servers.ts';
import { ACTIONS, type ActionSpec, type PamFeature } from './catalog.ts';

const RESOURCE_TYPES: ReadonlySet<string> = new Set(['pamMachine', 'pamDatabase', 'pamDirectory']);

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
 * The resource a pamUser belongs to, from the links the Router holds (`postern record add … --link`):
 * the one resource that links it as its account (`credential`); failing that, the one that links
 * it as its admin (it then rotates itself there). Several → the caller must name one. The gateway
 * no longer looks for resources itself: it uses exactly the one named here, or none.
 */
async function linkedResource(db: Kysely<Database>, recordUid: string): Promise<string | null> {
  const links = await db.selectFrom('record_links').select(['parent_uid', 'kind']).where('child_uid', '=', recordUid).execute();
  for (const kind of ['credential', 'admin_credential']) {
    const parents = [...new Set(links.filter((l) => l.kind === kind).map((l) => l.parent_uid))];
    if (parents.length > 1) {
      throw new PosternError('bad_request', `pamUser ${recordUid} is linked to ${parents.length} resources (${parents.join(', ')}); name one with --resource.`, { recordUid });
    }
    if (parents[0]) return parents[0];
  }
  return null;
}

/**
 * The admin credential a rotation on `resourceUid` may use: the resource's `admin_credential` link
 * (the vault publishes pamSettings.adminCredentialUid as that link), never the pamUser itself. The
 * requester must be able to read it: a resource anyone made cannot borrow someone else's admin.
 */
async function authorisedAdminCredential(db: Kysely<Database>, userUid: string, resourceUid: string, pamUserUid: string): Promise<string | null> {
  const admins = await db.selectFrom('record_links').select('child_uid').where('parent_uid', '=', resourceUid).where('kind', '=', 'admin_credential').execute();
  const candidates = [...new Set(admins.map((a) => a.child_uid))].filter((uid) => uid !== pamUserUid);
  if (candidates.length > 1) throw new PosternError('bad_state', `Resource ${resourceUid} names ${candidates.length} admin credentials; link exactly one (\`postern record link\`).`, { recordUid: resourceUid });
  const adminUid = candidates[0];
  if (!adminUid) return null;
  const access = await findUserRecordAccess(db, userUid, adminUid);
  if (!access) {
    throw new PosternError('not_allowed', `Resource ${resourceUid} uses admin credential ${adminUid}, which you cannot read; a rotation may use only credentials its requester has access to.`, {
      recordUid: adminUid,
    });
  }
  if (access.record.type !== 'pamUser') throw new PosternError('bad_state', `The admin credential ${adminUid} of resource ${resourceUid} is a ${access.record.type}, not a pamUser.`, { recordUid: adminUid });
  return adminUid;
}

function callerParams(action: string, spec: ActionSpec, params: Record<string, unknown> | undefined): Record<string, unknown> {
  const parsed = spec.params.safeParse(params ?? {});
  if (parsed.success) return parsed.data as Record<string, unknown>;
  const issue = parsed.error.issues[0];
  const key = issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue?.path.join('.');
  const allowed = Object.keys(spec.params.shape);
  throw new PosternError(
    'bad_request',
    issue?.code === 'unrecognized_keys'
      ? `"${action}" does not take the parameter(s) ${key}; it takes ${allowed.length ? allowed.join(', ') : 'none'}. The Router sets the record, resource, admin credential, configuration and job itself.`
      : `"${action}" params are invalid at ${key || '(params)'}: ${issue?.message ?? 'invalid'}.`,
    { action },
  );
}

export async function startAction(env: ActionEnv, actor: ActionActor, input: VaultInput<'action.send'>): Promise<ActionOutcome> {
  const spec = Object.hasOwn(ACTIONS, input.action) ? ACTIONS[input.action] : undefined;
  if (!spec) throw new PosternError('bad_request', `Unknown action "${input.action}". Known actions: ${Object.keys(ACTIONS).join(', ')}.`);
  if (spec.policy) await requirePolicy(env.db, actor.userUid, spec.policy);
  const fromCaller = callerParams(input.action, spec, input.params);

  // Everything below is the Router's own word; it is applied after the caller's parameters.
  const resolved: Record<string, unknown> = { requestedBy: actor.userUid };
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
      Object.assign(resolved, { recordUid, configurationUid });
      if (spec.resolvesResource) {
        const resourceUid = input.resourceUid ?? scheduled?.resource_uid ?? (await linkedResource(env.db, input.recordUid));
        if (resourceUid) {
          const resource = await requireReadableRecord(env.db, actor.userUid, resourceUid);
          if (!RESOURCE_TYPES.has(resource.record.type)) throw new PosternError('bad_request', `Record ${resourceUid} is a ${resource.record.type}; rotations run on a pamMachine, pamDatabase or pamDirectory.`, { recordUid: resourceUid });
        }
        // null tells the gateway "no resource" and "no admin": it uses nothing the Router did not name.
        resolved['resourceUid'] = resourceUid;
        resolved['adminCredentialUid'] = resourceUid ? await authorisedAdminCredential(env.db, actor.userUid, resourceUid, input.recordUid) : null;
      } else if (input.resourceUid) {
        throw new PosternError('bad_request', `"${input.action}" acts on the record itself and takes no resource.`);
      }
      break;
    }
    case 'configuration': {
      if (!input.configurationUid) throw new PosternError('bad_request', `"${input.action}" needs a PAM configuration UID (--config).`);
      gatewayUid = (await boundConfiguration(env.db, actor.userUid, input.configurationUid, spec.feature)).gateway_uid;
      resolved['configurationUid'] = input.configurationUid;
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
      resolved['jobUid'] = job.uid;
      break;
    }
    case 'gateway': {
      if (!input.gatewayUid) throw new PosternError('bad_request', `"${input.action}" needs a gateway UID.`);
      await requireOwnGateway(env.db, actor.userUid, input.gatewayUid);
      gatewayUid = input.gatewayUid;
      break;
    }
  }

  if (spec.webrtc) resolved['iceServers'] = iceServersFor(env.relay, gatewayUid, env.now()).iceServers;

  if (spec.job) {
    resolved['jobUid'] = await createJob(env.db, { gatewayUid, ownerUid: actor.userUid, action: input.action, recordUid, createdBy: actor.label, now: env.now() });
  }
  const jobUid = spec.job ? (resolved['jobUid'] as string) : undefined;
  const result = await env.hub.deliver(gatewayUid, input.action, { ...fromCaller, ...resolved }, input.timeoutMs ?? spec.defaultTimeoutMs);
  if (jobUid && result.code !== 'ok') await failJob(env.db, jobUid, 'failed', `${result.code}: ${result.message ?? 'the gateway did not start the job'}`, env.now());
  return { ...result, gatewayUid, ...(jobUid ? { jobUid } : {}) };
}
