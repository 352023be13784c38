/**
 * One rotation, in the four steps that make it crash-safe:
 *
 *   1. store   the new secret in the pamUser as a pending rotation transaction (the vault keeps
 *              serving the old one; the new one is safe in the vault before the target has it)
 *   2. change  it on the target, through the target's plugin
 *   3. verify  by logging in with the new secret
 *   4. finalize the transaction (the new secret becomes the record's value)
 *
 * A gateway killed anywhere leaves either no pending transaction (nothing happened, or it all
 * happened) or a pending one. A pending transaction is settled before anything else, by asking
 * the target which secret it accepts: the new one → finalize; the old one → roll back; neither →
 * stop, keep both, and say so (a person must look; losing either secret could lock everyone out).
 * `postern rotation resume` settles and stops; a rotation run settles and then rotates afresh,
 * with a freshly generated secret.
 *
 * Records are fetched through the secrets API at the start of every run, never cached.
 */
import { PosternError } from '../../core/errors.ts';
import { isRotationResourceType, type ActionParams } from '../../core/protocol/actions.ts';
import { gatewayOptions, type GatewayOptions } from '../../core/records/custom-fields.ts';
import type { PasswordComplexity, RecordData } from '../../core/records/index.ts';
import type { SecretRecord } from '../../core/secrets-client/index.ts';
import { recordSecretValues } from '../logging/record-secrets.ts';
import { requireBoundHere } from '../actions/binding.ts';
import type { SecretScrubber } from '../logging/scrubber.ts';
import type { Job } from '../jobs.ts';
import { admitRotationTarget } from '../targets/rotation-target.ts';
import { faultPoint } from './fault.ts';
import { generatePassword } from './password.ts';
import type { Account, Credential, Endpoint, RotationPlugin, RotationTarget } from './plugin.ts';
import { RotationFailure } from './plugin.ts';
import type { PostRotationScripts } from './scripts.ts';

/** What the engine needs of the secrets client (a SecretsClient; a fake in unit tests). */
export interface RotationSecrets {
  getSecrets(recordUids?: string[]): Promise<SecretRecord[]>;
  updateSecret(
    recordUid: string,
    change: (current: RecordData) => RecordData,
    options: { transaction: 'rotation' | 'general' },
  ): Promise<{ revision: number; pending: boolean }>;
  finalizeSecretUpdate(recordUid: string, options: { rollback: boolean }): Promise<unknown>;
}

/**
 * What a rotation runs on: the `rotate` action's params (core/protocol/actions.ts). `resourceUid`
 * is the resource the Router resolved and authorised for the requester (null: none), and
 * `adminCredentialUid` that resource's admin credential as the Router authorised it (null: the
 * pamUser rotates itself); the Router is the one place they are resolved
 * (router/actions/linked-resource.ts) and nothing else is looked for here.
 */
export type RotationRequest = Pick<ActionParams<'rotate'>, 'recordUid' | 'configurationUid' | 'resourceUid' | 'adminCredentialUid'> & {
  /** Only settle a pending transaction (`postern rotation resume`); do not rotate again. */
  resumeOnly?: boolean;
};

export interface RotationDeps {
  secrets: RotationSecrets;
  scrubber: SecretScrubber;
  gatewayUid: () => string | null;
  pluginFor: (endpoint: Endpoint) => RotationPlugin;
  scripts: PostRotationScripts;
  /** Per network step (connect, command), default 30 s. */
  timeoutMs?: number;
}

/** The outcome a job ends with; `failed` rotations throw instead. */
export interface RotationOutcome {
  message: string;
}

interface Loaded {
  user: SecretRecord;
  config: SecretRecord;
  resource: SecretRecord | null;
  admin: SecretRecord | null;
  options: GatewayOptions;
}

type Fields = Record<string, unknown>;
const fieldsOf = (data: RecordData): Fields => (data.fields ?? {}) as Fields;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

export async function runRotation(task: Job, request: RotationRequest, deps: RotationDeps): Promise<RotationOutcome> {
  const loaded = await load(task, request, deps);
  const { user, options } = loaded;
  const custom = optionsLine(options);
  if (custom) task.log(custom);
  if (!options.noop && !loaded.resource)
    throw new PosternError(
      'bad_request',
      `pamUser ${user.uid} is linked to no resource (pamMachine, pamDatabase or pamDirectory), so there is nothing to rotate it on.`,
    );
  const { plugin, target } = targetFor(task, loaded, deps);

  // A rotation that did not end (a killed gateway, a lost connection) is settled first.
  let settled = '';
  if (user.pending) {
    settled = await settlePending(task, loaded, plugin, target, deps);
    if (request.resumeOnly) return { message: settled };
    // Settling changed the record: reload it before rotating afresh.
    return rotateAfresh(task, await load(task, request, deps), deps, settled);
  }
  if (request.resumeOnly) return { message: `Nothing to resume: pamUser ${user.uid} has no rotation in progress.` };
  return rotateAfresh(task, loaded, deps, settled);
}

async function rotateAfresh(task: Job, loaded: Loaded, deps: RotationDeps, settled: string): Promise<RotationOutcome> {
  const { user, options } = loaded;
  const { plugin, target } = targetFor(task, loaded, deps);
  const current = credentialOf(user.data, options);
  const before = settled ? `${settled} ` : '';
  // Before anything is stored or sent: is this the target the record names, and may we dial it?
  if (plugin && target) await admitRotationTarget(plugin, target, { uid: loaded.config.uid, fields: fieldsOf(loaded.config.data) });

  // The new secret, registered with the scrubber before anything could print it.
  let next: Credential;
  if (current.kind === 'key') {
    if (!plugin?.newKey)
      throw new PosternError(
        'bad_request',
        `pamUser ${user.uid} holds a private key, but ${plugin ? `the ${plugin.name} target` : 'a NOOP rotation'} cannot rotate keys.`,
      );
    next = await plugin.newKey(target!);
  } else {
    next = { kind: 'password', password: generatePassword((fieldsOf(user.data)['passwordComplexity'] ?? {}) as Partial<PasswordComplexity>) };
  }
  deps.scrubber.add(...credentialSecrets(next));

  task.step('storing the new secret as pending', 20, [
    `Step 1/4: storing a new ${next.kind === 'key' ? 'key pair' : 'password'} in pamUser ${user.uid} as a pending rotation`,
  ]);
  await deps.secrets.updateSecret(user.uid, (data) => withCredential(data, next), { transaction: 'rotation' });
  await faultPoint('store');
  task.throwIfCancelled();

  if (plugin && target) {
    task.step(`changing it on the target (${plugin.name})`, 40, [
      `Step 2/4: changing the credential of "${target.user.login}" on ${target.endpoint.hostname}:${target.endpoint.port} (${plugin.name}${target.admin ? `, as ${target.admin.login}` : ', self-rotation'})`,
    ]);
    try {
      await plugin.change(target, next);
    } catch (err) {
      // The target says it did not change: the old secret is still the valid one. Check before
      // rolling back, because "failed" over a broken connection may still have applied it.
      await undoAfterFailedChange(task, loaded, plugin, target, next, deps);
      throw err;
    }
    await faultPoint('change');
    task.step('verifying the new secret', 65, ['Step 3/4: logging in with the new secret']);
    const accepted = await plugin.verify(target, next).catch((err: unknown) => {
      throw new PosternError(
        'bad_state',
        `The target was changed but logging in with the new secret could not be checked (${describe(err)}); the rotation stays pending. Run \`postern rotation resume ${user.uid}\` once the target answers.`,
      );
    });
    if (!accepted) {
      await undoAfterFailedChange(task, loaded, plugin, target, next, deps);
      throw new PosternError('bad_state', `The target did not accept the new secret after the change; the old secret was kept.`);
    }
    await faultPoint('verify');
  } else {
    task.step('NOOP: target not changed', 40, ['Steps 2–3/4 skipped: the NOOP custom field is set, so only post-rotation scripts run']);
  }

  task.step('finalizing', 85, ['Step 4/4: finalizing the rotation in the vault']);
  await deps.secrets.finalizeSecretUpdate(user.uid, { rollback: false });
  await faultPoint('finalize');

  const scripts = await deps.scripts.run(task, {
    configurationUid: loaded.config.uid,
    resourceUid: loaded.resource?.uid ?? null,
    userUid: user.uid,
    username: str(fieldsOf(user.data)['login']) ?? '',
    secretKind: next.kind,
    oldSecret: current.kind === 'password' ? current.password : current.privateKey,
    newSecret: next.kind === 'password' ? next.password : next.privateKey,
    files: [user, loaded.resource, loaded.config].flatMap((r) =>
      r ? r.files.filter((f) => f.kind === 'script').map((f) => ({ ...f, recordUid: r.uid })) : [],
    ),
    shell: loaded.options.shell,
  });
  const rotated = options.noop
    ? 'NOOP rotation done (target not changed)'
    : `Rotated ${next.kind === 'key' ? 'the key pair' : 'the password'} of "${str(fieldsOf(user.data)['login'])}" and verified it on the target`;
  return { message: `${before}${rotated}.${scripts.summary ? ` ${scripts.summary}` : ''}` };
}

/** The plugin and target of a rotation; none for NOOP (the target is not to be changed). */
function targetFor(task: Job, loaded: Loaded, deps: RotationDeps): { plugin: RotationPlugin | null; target: RotationTarget | null } {
  if (loaded.options.noop || !loaded.resource) return { plugin: null, target: null };
  return { plugin: deps.pluginFor(endpointOf(loaded.resource)), target: targetOf(task, loaded, deps) };
}

/** After a failed change or a refused new secret: which one does the target hold? */
async function undoAfterFailedChange(
  task: Job,
  loaded: Loaded,
  plugin: RotationPlugin,
  target: RotationTarget,
  next: Credential,
  deps: RotationDeps,
): Promise<void> {
  const oldWorks = await plugin.verify(target, target.user.credential).catch(() => null);
  if (oldWorks === true) {
    task.log('The target still accepts the old secret; rolling the pending rotation back');
    await deps.secrets.finalizeSecretUpdate(loaded.user.uid, { rollback: true });
    return;
  }
  const newWorks = await plugin.verify(target, next).catch(() => null);
  if (newWorks === true) {
    task.log('The target accepts the new secret after all; finalizing');
    await deps.secrets.finalizeSecretUpdate(loaded.user.uid, { rollback: false });
    return;
  }
  task.log('Could not tell which secret the target holds; the rotation stays pending with both secrets kept');
}

/** Settle a pending rotation left by an earlier run: the target decides which secret wins. */
async function settlePending(task: Job, loaded: Loaded, plugin: RotationPlugin | null, target: RotationTarget | null, deps: RotationDeps): Promise<string> {
  const { user } = loaded;
  const pending = user.pending!;
  const next = credentialOf(pending.data, loaded.options);
  deps.scrubber.add(...credentialSecrets(next));
  task.step('settling an unfinished rotation', 10, [
    `pamUser ${user.uid} has a rotation pending since ${new Date(pending.createdAt).toISOString()}; asking the target which secret it accepts`,
  ]);
  if (!plugin || !target) {
    // NOOP: the target was never to be changed, so the pending value is simply committed.
    await deps.secrets.finalizeSecretUpdate(user.uid, { rollback: false });
    return 'An unfinished NOOP rotation was finalized.';
  }
  await admitRotationTarget(plugin, target, { uid: loaded.config.uid, fields: fieldsOf(loaded.config.data) });
  if (await plugin.verify(target, next)) {
    await deps.secrets.finalizeSecretUpdate(user.uid, { rollback: false });
    task.log('The target accepts the pending secret: finalized');
    return 'An unfinished rotation had changed the target; it was finalized.';
  }
  if (await plugin.verify(target, target.user.credential)) {
    await deps.secrets.finalizeSecretUpdate(user.uid, { rollback: true });
    task.log('The target still accepts the old secret: the pending rotation was rolled back');
    return 'An unfinished rotation had not changed the target; it was rolled back.';
  }
  throw new PosternError(
    'bad_state',
    `pamUser ${user.uid} has a pending rotation, and the target accepts neither the pending nor the current secret. Both are kept in the vault; check the account on ${target.endpoint.hostname}, then run \`postern rotation resume ${user.uid}\`.`,
  );
}

async function load(task: Job, request: RotationRequest, deps: RotationDeps): Promise<Loaded> {
  const wanted = [request.recordUid, request.configurationUid, ...(request.resourceUid ? [request.resourceUid] : [])];
  task.step('fetching records', 5, [
    `Fetching pamUser ${request.recordUid}, PAM configuration ${request.configurationUid}${request.resourceUid ? ` and resource ${request.resourceUid}` : ''}`,
  ]);
  const records = await deps.secrets.getSecrets(wanted);
  registerSecrets(records, deps.scrubber);
  const byUid = new Map(records.map((r) => [r.uid, r]));
  const user = byUid.get(request.recordUid);
  const config = byUid.get(request.configurationUid);
  const resource = request.resourceUid ? (byUid.get(request.resourceUid) ?? null) : null;
  if (!user || !config || (request.resourceUid && !resource))
    throw new PosternError('not_allowed', 'A record of this rotation is not shared to the gateway’s application.');
  if (user.type !== 'pamUser') throw new PosternError('bad_request', `Record ${user.uid} is a ${user.type}, not a pamUser; only pamUser records are rotated.`);
  if (config.type !== 'pamConfiguration') throw new PosternError('bad_request', `Record ${config.uid} is a ${config.type}, not a pamConfiguration.`);
  requireBoundHere(config, deps.gatewayUid());
  if (resource && !isRotationResourceType(resource.type))
    throw new PosternError(
      'bad_request',
      `Resource ${resource.uid} is a ${resource.type}; passwords are rotated on pamMachine, pamDatabase and pamDirectory resources.`,
    );
  const admin = resource ? await authorisedAdmin(resource, user, request, deps) : null;
  return { user, config, resource, admin, options: gatewayOptions(user.data) };
}

/**
 * The admin the rotation logs in as: only the one the Router authorised for the requester
 * (router/actions/linked-resource.ts chooses it; this never does). The resource record may name
 * its admin (pamSettings.adminCredentialUid, or its admin_credential link), which the Router
 * cannot read; if that is not the one the Router named, someone pointed the resource at a
 * credential the requester may not use, and nothing is sent anywhere.
 */
async function authorisedAdmin(resource: SecretRecord, user: SecretRecord, request: RotationRequest, deps: RotationDeps): Promise<SecretRecord | null> {
  const pamSettings = fieldsOf(resource.data)['pamSettings'] as Fields | undefined;
  const named = [str(pamSettings?.['adminCredentialUid']), ...resource.links.filter((l) => l.kind === 'admin_credential').map((l) => l.childUid)].filter(
    (uid): uid is string => uid !== undefined && uid !== user.uid,
  );
  const stray = named.find((uid) => uid !== request.adminCredentialUid);
  if (stray) {
    throw new PosternError(
      'not_allowed',
      `Resource ${resource.uid} names admin credential ${stray}, but the Router authorised ${request.adminCredentialUid ? `only ${request.adminCredentialUid}` : 'none'} for this rotation; the rotation was refused and nothing was sent to the target.`,
      { recordUid: resource.uid },
    );
  }
  const adminUid = request.adminCredentialUid;
  if (!adminUid || adminUid === user.uid) return null;
  const [found] = await deps.secrets.getSecrets([adminUid]).catch(() => {
    throw new PosternError('not_allowed', `The admin credential ${adminUid} of resource ${resource.uid} is not shared to the gateway’s application.`);
  });
  if (found?.type !== 'pamUser') throw new PosternError('bad_request', `The admin credential ${adminUid} of resource ${resource.uid} is not a pamUser.`);
  registerSecrets([found], deps.scrubber);
  return found;
}

/** Every secret value of the records (and their pending rotations), at any depth, for the scrubber. */
function registerSecrets(records: SecretRecord[], scrubber: SecretScrubber): void {
  for (const r of records) {
    for (const data of [r.data, r.pending?.data]) if (data) scrubber.add(...recordSecretValues(data));
  }
}

function endpointOf(resource: SecretRecord): Endpoint {
  const f = fieldsOf(resource.data);
  return {
    type: resource.type as Endpoint['type'],
    hostname: String(f['hostname']),
    port: Number(f['port']),
    useSSL: f['useSSL'] === true,
    // A database without useSSL uses TLS when the server offers it (docs/decisions/0006-target-trust.md).
    preferTls: resource.type === 'pamDatabase' && f['useSSL'] === undefined,
    // A CA always verifies; else sslVerification decides, and unset, a required TLS verifies (system CAs).
    verifyTls: str(f['sslCaCertificate']) !== undefined || (typeof f['sslVerification'] === 'boolean' ? f['sslVerification'] : f['useSSL'] === true),
    ...(str(f['sslCaCertificate']) ? { caCertificate: str(f['sslCaCertificate'])! } : {}),
    ...(str(f['hostKey']) ? { hostKey: str(f['hostKey'])! } : {}),
    resourceUid: resource.uid,
    ...(str(f['databaseType']) ? { databaseType: str(f['databaseType'])! } : {}),
    ...(str(f['directoryType']) ? { directoryType: str(f['directoryType'])! } : {}),
    ...(str(f['distinguishedName']) ? { baseDn: str(f['distinguishedName'])! } : {}),
    ...(str(f['domainName']) ? { domainName: str(f['domainName'])! } : {}),
  };
}

function targetOf(task: Job, loaded: Loaded, deps: RotationDeps): RotationTarget {
  return {
    endpoint: endpointOf(loaded.resource!),
    user: accountOf(loaded.user.data, loaded.options),
    admin: loaded.admin ? accountOf(loaded.admin.data, gatewayOptions(loaded.admin.data)) : null,
    options: loaded.options,
    signal: task.signal,
    log: (line) => task.log(line),
    timeoutMs: deps.timeoutMs ?? 30_000,
    // Trust on first use: the host key goes into the resource; a key recorded meanwhile by
    // another run wins, and this run stops rather than overwrite it.
    pinHostKey: async (hostKey) => {
      const resourceUid = loaded.resource!.uid;
      await deps.secrets.updateSecret(
        resourceUid,
        (data) => {
          if (str(fieldsOf(data)['hostKey']))
            throw new PosternError('bad_state', `resource ${resourceUid} got a hostKey while this rotation ran; run it again`);
          return { ...data, fields: { ...fieldsOf(data), hostKey } } as RecordData;
        },
        { transaction: 'general' },
      );
    },
  };
}

function accountOf(data: RecordData, options: GatewayOptions): Account {
  const f = fieldsOf(data);
  return {
    login: String(f['login'] ?? ''),
    ...(str(f['distinguishedName']) ? { distinguishedName: str(f['distinguishedName'])! } : {}),
    ...(str(f['connectDatabase']) ? { connectDatabase: str(f['connectDatabase'])! } : {}),
    credential: credentialOf(data, options),
  };
}

/**
 * The credential a pamUser logs in with. One per rotation: the private key when the record holds
 * one and `Private Key Rotate` is on (the key is what logs in), else the password.
 */
export function credentialOf(data: RecordData, options: GatewayOptions): Credential {
  const f = fieldsOf(data);
  const privateKey = str(f['privateKey']);
  if (privateKey && options.privateKeyRotate) {
    // The record keeps only the private key; the plugin derives the public half when it needs it.
    return { kind: 'key', privateKey, publicKey: '' };
  }
  const password = str(f['password']);
  if (!password) throw new PosternError('bad_request', 'The pamUser has no password (and no private key to rotate); set its current password first.');
  return { kind: 'password', password };
}

function withCredential(data: RecordData, next: Credential): RecordData {
  const fields = { ...fieldsOf(data) };
  if (next.kind === 'password') fields['password'] = next.password;
  else fields['privateKey'] = next.privateKey;
  return { ...data, fields } as RecordData;
}

function credentialSecrets(c: Credential): string[] {
  return c.kind === 'password' ? [c.password] : [c.privateKey, ...(c.passphrase ? [c.passphrase] : [])];
}

/** The gateway custom fields in effect, for the job log; nothing when all are defaults. */
function optionsLine(o: GatewayOptions): string {
  const set = [
    o.noop ? 'NOOP: target not changed, scripts only' : '',
    o.shell ? `Shell: ${o.shell}` : '',
    o.privateKeyType ? `Private Key Type: ${o.privateKeyType}` : '',
    o.privateKeyRotate ? '' : 'Private Key Rotate: off (the password is rotated, not the key)',
    // Kerberos only matters to WinRM, which this gateway has no plugin for: stored and reported.
    o.kerberos ? 'Kerberos: on (applies to Windows targets; not used by this rotation)' : '',
  ].filter(Boolean);
  return set.length ? `Custom fields: ${set.join('; ')}` : '';
}

function describe(err: unknown): string {
  if (err instanceof RotationFailure) return `${err.reason}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
