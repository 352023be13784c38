/**
 * The vault client SDK: a logged-in user's view of their vault, decrypted locally, and the
 * operations that change it. Every key and secret is sealed here before it is sent.
 */
import {
  deviceClientId,
  fromBase64Url,
  generateAesKey,
  openBytes,
  openJsonValue,
  openWithPrivateKey,
  purposes,
  randomBytes,
  sealBytes,
  sealJsonValue,
  sealToPublicKey,
  sha256,
  toBase64Url,
  tokenWrappingKey,
} from '../crypto/index.ts';
import { PosternError } from '../errors.ts';
import { newUid, UID_PATTERN } from '../ids.ts';
import type { ActionName, ActionRequest } from '../protocol/actions.ts';
import { invitationCodeHash, newInvitationCode } from '../protocol/invitation-code.ts';
import type {
  ActionOutcome,
  InvitationEntry,
  IceServerEntry,
  DeviceEntry,
  EventEntry,
  GatewayEntry,
  JobEntry,
  RecordEntry,
  RoleEntry,
  RotationEntry,
  VaultRequest,
} from '../protocol/vault-api.ts';
import type { RotationSchedule } from '../schedule/rotation-schedule.ts';
import { isResourceRecordType, validateRecordData, type RecordData } from '../records/index.ts';
import { newTrafficEncryptionSeed } from '../protocol/webrtc-signalling.ts';
import { formatOneTimeToken } from '../secrets-client/token.ts';
import { loginAccount, resumeSession, type PersistedSession, type UnlockedKeys } from './account.ts';
import { SeenRevisions, type SeenRevisionsStore } from './seen-revisions.ts';
import type { VaultTransport } from './transport.ts';

export interface VaultClientOptions {
  /** Keeps the revisions seen (rollback detection) between runs; without it they live as long as the client. */
  revisions?: SeenRevisionsStore;
}

export interface VaultFolder {
  uid: string;
  name: string;
  parentUid: string | null;
  shared: boolean;
  canEdit: boolean;
  canShare: boolean;
  isOwner: boolean;
  members: { userUid: string; email: string; canEdit: boolean; canShare: boolean; isOwner: boolean }[];
}

export interface VaultFile {
  uid: string;
  kind: 'attachment' | 'script';
  name: string;
  mime: string;
  size: number;
  /** Scripts: who approved it and when (gateways run approved scripts only); null when not approved. */
  approved: { by: string; at: number } | null;
}

export interface VaultRecord {
  uid: string;
  type: string;
  folderUid: string | null;
  ownerUid: string;
  revision: number;
  updatedAt: number;
  canEdit: boolean;
  data: RecordData;
  files: VaultFile[];
  links: { childUid: string; kind: string }[];
}

export interface VaultApplication {
  uid: string;
  name: string;
  createdAt: number;
  folders: { folderUid: string; canEdit: boolean }[];
}

export interface VaultView {
  folders: VaultFolder[];
  records: VaultRecord[];
  applications: VaultApplication[];
  /** Records the Router listed that could not be opened with the keys we hold. */
  unreadable: string[];
}

export interface ClientTokenOptions {
  name?: string;
  firstAccessExpiresInMinutes?: number;
  accessExpiresInMinutes?: number;
  unlockIp?: boolean;
  count?: number;
  /** 'gateway' for a postern-gateway; default 'device'. */
  kind?: 'device' | 'gateway';
}

export interface IssuedClientToken {
  deviceUid: string;
  name: string;
  token: string;
  firstAccessExpiresAt: number;
}

interface FileMetadata {
  name: string;
  mime: string;
  size: number;
}

export class VaultClient {
  readonly transport: VaultTransport;
  readonly session: PersistedSession;
  private readonly keys: UnlockedKeys;
  private folderKeys = new Map<string, Uint8Array>();
  private recordKeys = new Map<string, Uint8Array>();
  private appKeys = new Map<string, Uint8Array>();
  private view: VaultView | null = null;
  /** The newest revision of each record seen: an older one served later is refused (rollback_detected). */
  readonly revisions: SeenRevisions;
  private readonly revisionStore: SeenRevisionsStore | undefined;

  private constructor(
    transport: VaultTransport,
    session: PersistedSession,
    keys: UnlockedKeys,
    revisions: SeenRevisions,
    store: SeenRevisionsStore | undefined,
  ) {
    this.transport = transport;
    this.session = session;
    this.keys = keys;
    this.revisions = revisions;
    this.revisionStore = store;
  }

  static async login(transport: VaultTransport, email: string, masterPassword: string, options: VaultClientOptions = {}): Promise<VaultClient> {
    const { persisted, keys } = await loginAccount(transport, email, masterPassword);
    return new VaultClient(transport, persisted, keys, new SeenRevisions(await options.revisions?.load()), options.revisions);
  }

  static async resume(transport: VaultTransport, persisted: PersistedSession, options: VaultClientOptions = {}): Promise<VaultClient> {
    const keys = await resumeSession(transport, persisted);
    return new VaultClient(transport, persisted, keys, new SeenRevisions(await options.revisions?.load()), options.revisions);
  }

  /** Hands newly seen revisions to the store, if any changed. */
  private async saveRevisions(): Promise<void> {
    if (!this.revisionStore || !this.revisions.changed) return;
    await this.revisionStore.save(this.revisions.entries());
    this.revisions.markSaved();
  }

  private call: VaultTransport['call'] = (command, body) => this.transport.call(command, body, this.session.sessionToken);

  async logout(): Promise<void> {
    await this.call('account.logout', {});
  }

  whoami() {
    return this.call('account.whoami', {});
  }

  // ---- reading ----

  async sync(): Promise<VaultView> {
    const raw = await this.call('vault.sync', {});
    this.folderKeys.clear();
    this.recordKeys.clear();
    this.appKeys.clear();
    const folders: VaultFolder[] = [];
    for (const f of raw.folders) {
      try {
        const key = await this.openFolderKey(f.folderUid, f.keyType, f.folderKey);
        this.folderKeys.set(f.folderUid, key);
        folders.push({
          uid: f.folderUid,
          name: new TextDecoder().decode(await openBytes(key, f.encryptedName, purposes.folderName(f.folderUid))),
          parentUid: f.parentUid,
          shared: f.shared,
          canEdit: f.canEdit,
          canShare: f.canShare,
          isOwner: f.isOwner,
          members: f.members ?? [],
        });
      } catch {
        // a folder we cannot open is simply not shown
      }
    }
    const records: VaultRecord[] = [];
    const unreadable: string[] = [];
    // A rollback anywhere fails the whole sync: a server lying about one record is not trusted for the rest.
    for (const entry of raw.records) this.revisions.observe(entry.recordUid, entry.revision, entry.data);
    await this.saveRevisions();
    for (const entry of raw.records) {
      try {
        records.push(await this.openRecord(entry));
      } catch {
        unreadable.push(entry.recordUid);
      }
    }
    const applications: VaultApplication[] = [];
    for (const a of raw.applications) {
      const appKey = await openBytes(this.keys.dataKey, a.appKey, purposes.appKey(a.appUid));
      this.appKeys.set(a.appUid, appKey);
      const { name } = await openJsonValue<{ name: string }>(appKey, a.data, purposes.app(a.appUid));
      applications.push({ uid: a.appUid, name, createdAt: a.createdAt, folders: a.folders });
    }
    this.view = { folders, records, applications, unreadable };
    return this.view;
  }

  private async currentView(): Promise<VaultView> {
    return this.view ?? (await this.sync());
  }

  private openFolderKey(folderUid: string, keyType: 'data_key' | 'ecies', wrapped: string): Promise<Uint8Array> {
    return keyType === 'data_key'
      ? openBytes(this.keys.dataKey, wrapped, purposes.folderKey(folderUid))
      : openWithPrivateKey(this.keys.privateKey, wrapped, purposes.folderKey(folderUid));
  }

  private async openRecord(entry: RecordEntry): Promise<VaultRecord> {
    const wrappingKey = entry.keyType === 'data_key' ? this.keys.dataKey : this.folderKeys.get(entry.folderUid ?? '');
    if (!wrappingKey) throw new PosternError('decrypt_failed', `No key for the folder of record ${entry.recordUid}.`);
    const recordKey = await openBytes(wrappingKey, entry.recordKey, purposes.recordKey(entry.recordUid));
    this.recordKeys.set(entry.recordUid, recordKey);
    const data = validateRecordData(await openJsonValue(recordKey, entry.data, purposes.record(entry.recordUid)));
    const files = await Promise.all(
      entry.files.map(async (f) => {
        const fileKey = await openBytes(recordKey, f.fileKey, purposes.fileKey(f.fileUid));
        const meta = await openJsonValue<FileMetadata>(fileKey, f.metadata, purposes.fileMetadata(f.fileUid));
        return {
          uid: f.fileUid,
          kind: f.kind,
          name: meta.name,
          mime: meta.mime,
          size: meta.size,
          approved: f.approval ? { by: f.approval.approvedBy, at: f.approval.approvedAt } : null,
        };
      }),
    );
    return {
      uid: entry.recordUid,
      type: entry.type,
      folderUid: entry.folderUid,
      ownerUid: entry.ownerUid,
      revision: entry.revision,
      updatedAt: entry.updatedAt,
      canEdit: entry.canEdit,
      data,
      files,
      links: entry.links,
    };
  }

  /** Fetches one record fresh from the Router (not from the last sync) and decrypts it. */
  async getRecord(recordUid: string): Promise<VaultRecord> {
    const entry = await this.call('record.get', { recordUid });
    this.revisions.observe(entry.recordUid, entry.revision, entry.data);
    await this.saveRevisions();
    if (entry.keyType === 'folder_key' && entry.folderUid && entry.folderKey) {
      this.folderKeys.set(entry.folderUid, await this.openFolderKey(entry.folderUid, entry.folderKey.keyType, entry.folderKey.wrappedKey));
    }
    return this.openRecord(entry);
  }

  async findFolder(nameOrUid: string): Promise<VaultFolder> {
    const view = await this.currentView();
    const byUid = view.folders.find((f) => f.uid === nameOrUid);
    if (byUid) return byUid;
    const byName = view.folders.filter((f) => f.name === nameOrUid);
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1)
      throw new PosternError('bad_request', `Several folders are named "${nameOrUid}"; use the folder UID (${byName.map((f) => f.uid).join(', ')}).`);
    throw new PosternError('not_found', `No folder named or with UID "${nameOrUid}" in your vault.`);
  }

  async findApplication(nameOrUid: string): Promise<VaultApplication> {
    const view = await this.currentView();
    const app = view.applications.find((a) => a.uid === nameOrUid) ?? view.applications.filter((a) => a.name === nameOrUid)[0];
    if (!app) throw new PosternError('not_found', `No application named or with UID "${nameOrUid}". See \`postern app list\`.`);
    const same = view.applications.filter((a) => a.name === nameOrUid);
    if (same.length > 1 && app.uid !== nameOrUid) throw new PosternError('bad_request', `Several applications are named "${nameOrUid}"; use the UID.`);
    return app;
  }

  // ---- folders ----

  /**
   * Creates a folder. A second folder of the same name in the same parent is refused (`conflict`)
   * unless `allowDuplicate`: names are ciphertext to the Router, so only a client can check.
   */
  async addFolder(name: string, options: { shared: boolean; parentUid?: string; allowDuplicate?: boolean }): Promise<string> {
    if (!options.allowDuplicate) {
      const parentUid = options.parentUid ?? null;
      const same = (await this.currentView()).folders.find((f) => f.parentUid === parentUid && f.name === name);
      if (same) {
        const where = parentUid === null ? 'at the top level' : `in folder ${parentUid}`;
        throw new PosternError('conflict', `A folder named "${name}" already exists ${where} (${same.uid}).`, { folderUid: same.uid });
      }
    }
    const folderUid = newUid();
    const folderKey = generateAesKey();
    await this.call('folder.add', {
      folderUid,
      ...(options.parentUid ? { parentUid: options.parentUid } : {}),
      shared: options.shared,
      encryptedName: await sealBytes(folderKey, new TextEncoder().encode(name), purposes.folderName(folderUid)),
      folderKey: await sealBytes(this.keys.dataKey, folderKey, purposes.folderKey(folderUid)),
    });
    this.view = null;
    return folderUid;
  }

  async shareFolder(folderUid: string, email: string, permissions: { canEdit: boolean; canShare: boolean }): Promise<{ userUid: string }> {
    await this.currentView();
    const folderKey = this.folderKeys.get(folderUid);
    if (!folderKey) throw new PosternError('not_allowed', `You do not have access to folder ${folderUid}.`);
    const recipient = await this.call('users.public-key', { email });
    await this.call('folder.share', {
      folderUid,
      userUid: recipient.userUid,
      wrappedFolderKey: await sealToPublicKey(fromBase64Url(recipient.publicKey), folderKey, purposes.folderKey(folderUid)),
      canEdit: permissions.canEdit,
      canShare: permissions.canShare,
    });
    this.view = null;
    return { userUid: recipient.userUid };
  }

  // ---- records ----

  async addRecord(input: RecordData, options: { folderUid?: string } = {}): Promise<string> {
    const data = withTrafficSeed(validateRecordData(input));
    const recordUid = newUid();
    const recordKey = generateAesKey();
    let wrappingKey = this.keys.dataKey;
    if (options.folderUid) {
      await this.currentView();
      const folderKey = this.folderKeys.get(options.folderUid);
      if (!folderKey) throw new PosternError('not_allowed', `You do not have access to folder ${options.folderUid}.`);
      wrappingKey = folderKey;
    }
    const sealed = await sealJsonValue(recordKey, data, purposes.record(recordUid));
    const { revision } = await this.call('record.add', {
      recordUid,
      type: data.type,
      ...(options.folderUid ? { folderUid: options.folderUid } : {}),
      recordKey: await sealBytes(wrappingKey, recordKey, purposes.recordKey(recordUid)),
      data: sealed,
    });
    this.revisions.observe(recordUid, revision, sealed);
    await this.saveRevisions();
    await this.publishPamConfiguration(recordUid, data);
    await this.publishAdminCredential(recordUid, data);
    this.view = null;
    return recordUid;
  }

  /**
   * The Router routes actions by a PAM configuration's gateway and checks its allowed features;
   * both live inside the encrypted record, so the client publishes them as plaintext metadata
   * (neither is a secret) whenever a pamConfiguration is saved.
   */
  private async publishPamConfiguration(recordUid: string, data: RecordData): Promise<void> {
    if (data.type !== 'pamConfiguration') return;
    const fields = data.fields as { gatewayUid?: string; features?: Record<string, boolean> };
    if (!fields.gatewayUid) return;
    const f = fields.features ?? {};
    await this.call('pam.config.set', {
      configUid: recordUid,
      gatewayUid: fields.gatewayUid,
      features: {
        rotation: f['rotation'] === true,
        connections: f['connections'] === true,
        remoteBrowserIsolation: f['remoteBrowserIsolation'] === true,
        tunneling: f['tunneling'] === true,
        graphicalRecording: f['graphicalRecording'] === true,
        typescriptRecording: f['typescriptRecording'] === true,
      },
    });
  }

  /**
   * A resource's admin credential (pamSettings.adminCredentialUid) lives inside the encrypted
   * record, but the Router decides which admin a rotation may use and checks that the requester
   * can read it: so the client publishes it as the resource's `admin_credential` link, which the
   * Router accepts only for a pamUser this user can read.
   */
  private async publishAdminCredential(recordUid: string, data: RecordData): Promise<void> {
    if (!isResourceRecordType(data.type)) return;
    const adminUid = (data.fields as { pamSettings?: { adminCredentialUid?: unknown } }).pamSettings?.adminCredentialUid;
    if (typeof adminUid === 'string' && adminUid !== '') await this.call('record.link', { parentUid: recordUid, childUid: adminUid, kind: 'admin_credential' });
  }

  /** Read-modify-write against the latest revision; a concurrent change is a `conflict`, never an overwrite. */
  async updateRecord(
    recordUid: string,
    change: (current: RecordData) => RecordData,
    expectedRevision?: number,
  ): Promise<{ revision: number; data: RecordData }> {
    const current = await this.getRecord(recordUid);
    const data = validateRecordData(change(current.data));
    if (data.type !== current.data.type) throw new PosternError('bad_request', 'The record type cannot be changed.');
    const recordKey = this.recordKeys.get(recordUid)!;
    const sealed = await sealJsonValue(recordKey, data, purposes.record(recordUid));
    const { revision } = await this.call('record.update', {
      recordUid,
      revision: expectedRevision ?? current.revision,
      data: sealed,
    });
    this.revisions.observe(recordUid, revision, sealed);
    await this.saveRevisions();
    await this.publishPamConfiguration(recordUid, data);
    await this.publishAdminCredential(recordUid, data);
    this.view = null;
    return { revision, data };
  }

  async deleteRecord(recordUid: string): Promise<void> {
    await this.call('record.delete', { recordUid });
    this.view = null;
  }

  async linkRecords(parentUid: string, childUid: string, kind: 'admin_credential' | 'credential' = 'admin_credential'): Promise<void> {
    await this.call('record.link', { parentUid, childUid, kind });
    this.view = null;
  }

  // ---- files ----

  async uploadFile(recordUid: string, file: { name: string; mime?: string; bytes: Uint8Array; kind?: 'attachment' | 'script' }): Promise<string> {
    await this.getRecord(recordUid);
    const recordKey = this.recordKeys.get(recordUid)!;
    const fileUid = newUid();
    const fileKey = generateAesKey();
    const metadata: FileMetadata = { name: file.name, mime: file.mime ?? 'application/octet-stream', size: file.bytes.byteLength };
    await this.call('file.upload', {
      fileUid,
      recordUid,
      kind: file.kind ?? 'attachment',
      fileKey: await sealBytes(recordKey, fileKey, purposes.fileKey(fileUid)),
      metadata: await sealJsonValue(fileKey, metadata, purposes.fileMetadata(fileUid)),
      content: await sealBytes(fileKey, file.bytes, purposes.fileContent(fileUid)),
    });
    this.view = null;
    return fileUid;
  }

  /** Approves a post-rotation script already attached (needs the manage_rotation_scripts policy). */
  async approveScript(fileUid: string): Promise<{ by: string; at: number }> {
    const { approval } = await this.call('file.script.approve', { fileUid });
    this.view = null;
    return { by: approval.approvedBy, at: approval.approvedAt };
  }

  async downloadFile(fileUid: string): Promise<{ name: string; mime: string; bytes: Uint8Array; kind: 'attachment' | 'script' }> {
    const file = await this.call('file.download', { fileUid });
    if (!this.recordKeys.has(file.recordUid)) await this.getRecord(file.recordUid);
    const fileKey = await openBytes(this.recordKeys.get(file.recordUid)!, file.fileKey, purposes.fileKey(fileUid));
    const meta = await openJsonValue<FileMetadata>(fileKey, file.metadata, purposes.fileMetadata(fileUid));
    return { name: meta.name, mime: meta.mime, kind: file.kind, bytes: await openBytes(fileKey, file.content, purposes.fileContent(fileUid)) };
  }

  // ---- Secrets Manager applications ----

  async createApplication(name: string): Promise<string> {
    const appUid = newUid();
    const appKey = generateAesKey();
    await this.call('app.create', {
      appUid,
      appKey: await sealBytes(this.keys.dataKey, appKey, purposes.appKey(appUid)),
      data: await sealJsonValue(appKey, { name }, purposes.app(appUid)),
    });
    this.view = null;
    return appUid;
  }

  async shareFolderToApplication(appUid: string, folderUid: string, canEdit: boolean): Promise<void> {
    await this.currentView();
    const appKey = this.appKeys.get(appUid);
    if (!appKey) throw new PosternError('not_allowed', `You do not own application ${appUid}.`);
    const folderKey = this.folderKeys.get(folderUid);
    if (!folderKey) throw new PosternError('not_allowed', `You do not have access to folder ${folderUid}.`);
    await this.call('app.share', {
      appUid,
      folderUid,
      wrappedFolderKey: await sealBytes(appKey, folderKey, purposes.appFolderKey(appUid, folderUid)),
      canEdit,
    });
    this.view = null;
  }

  /**
   * Issues one-time access tokens for new devices. The token is made here and never sent:
   * the Router gets SHA-256 of the client id it derives and the app key sealed under it.
   */
  async addApplicationClients(appUid: string, options: ClientTokenOptions = {}): Promise<IssuedClientToken[]> {
    await this.currentView();
    const appKey = this.appKeys.get(appUid);
    if (!appKey) throw new PosternError('not_allowed', `You do not own application ${appUid}.`);
    const count = options.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 100) throw new PosternError('bad_request', '--count must be an integer from 1 to 100.');
    const tokens = Array.from({ length: count }, () => randomBytes(32));
    const names = tokens.map((_, i) => (options.name ? (count > 1 ? `${options.name}-${i + 1}` : options.name) : randomName()));
    const { devices } = await this.call('app.client.add', {
      appUid,
      clients: await Promise.all(
        tokens.map(async (token, i) => ({
          clientIdHash: toBase64Url(sha256(deviceClientId(token))),
          wrappedAppKey: await sealBytes(tokenWrappingKey(token), appKey, purposes.deviceAppKey),
          name: names[i]!,
          firstAccessExpiresInMinutes: options.firstAccessExpiresInMinutes ?? 60,
          ...(options.accessExpiresInMinutes ? { accessExpiresInMinutes: options.accessExpiresInMinutes } : {}),
          ipLock: !options.unlockIp,
        })),
      ),
      kind: options.kind ?? 'device',
    });
    return devices.map((d, i) => ({ ...d, token: formatOneTimeToken(this.transport.server, tokens[i]!) }));
  }

  async listApplicationClients(appUid: string): Promise<DeviceEntry[]> {
    return (await this.call('app.client.list', { appUid })).devices;
  }

  async removeApplicationClient(appUid: string, deviceUid: string): Promise<void> {
    await this.call('app.client.remove', { appUid, deviceUid });
  }

  async events(options: { limit?: number; action?: string; recordUid?: string } = {}): Promise<EventEntry[]> {
    return (await this.call('events.list', options)).events;
  }

  // ---- gateways, actions and jobs ----

  async listGateways(): Promise<GatewayEntry[]> {
    return (await this.call('gateway.list', {})).gateways;
  }

  async removeGateway(gatewayUid: string): Promise<void> {
    await this.call('gateway.remove', { gatewayUid });
  }

  /**
   * Start action N (rotate, gateway-info, job-cancel, …) on a gateway, through the Router. The
   * request is typed by the action contract (core/protocol/actions.ts): what the action addresses,
   * and its params. An `ok` outcome's `data` is what the gateway said; read its fields through
   * parseActionResult(name, outcome.data).
   */
  action<N extends ActionName>(name: N, request: ActionRequest<N>): Promise<ActionOutcome> {
    return this.call('action.send', { ...(request as VaultRequest<'action.send'>), action: name });
  }

  /**
   * `action.send` as any client could send it: an action name and params unchecked here. For tests
   * of what the Router refuses, and for actions this client does not know yet; use `action`.
   */
  sendAction(request: VaultRequest<'action.send'>): Promise<ActionOutcome> {
    return this.call('action.send', request);
  }

  /** Short-lived TURN credentials for the Router's Relay (empty when it runs none). */
  relayCredentials(): Promise<{ iceServers: IceServerEntry[]; expiresAt: number | null }> {
    return this.call('relay.credentials', {});
  }

  getJob(jobUid: string, afterSeq = 0): Promise<{ job: JobEntry; logs: { seq: number; at: number; line: string }[] }> {
    return this.call('job.get', { jobUid, afterSeq });
  }

  /** The key of a record this user can read (fetched when not known yet), null when they cannot: what is sealed to its readers (job logs) opens with it. */
  async recordKeyOf(recordUid: string): Promise<Uint8Array | null> {
    if (!this.recordKeys.has(recordUid)) {
      try {
        await this.getRecord(recordUid);
      } catch (err) {
        if (!(err instanceof PosternError) || !['not_allowed', 'not_found', 'decrypt_failed'].includes(err.code)) throw err;
      }
    }
    return this.recordKeys.get(recordUid) ?? null;
  }

  async listJobs(limit = 50): Promise<JobEntry[]> {
    return (await this.call('job.list', { limit })).jobs;
  }

  // ---- invitations (administrators) ----

  /**
   * Invites `email` to register. The code is made here and returned once; the Router gets only
   * its hash, so neither its database nor its logs can hand it out again.
   */
  async addInvitation(
    email: string,
    options: { expiresInMinutes?: number } = {},
  ): Promise<{ invitationUid: string; email: string; expiresAt: number; code: string }> {
    const code = newInvitationCode();
    const added = await this.call('invite.add', { email, codeHash: invitationCodeHash(code), expiresInMinutes: options.expiresInMinutes ?? 7 * 24 * 60 });
    return { ...added, code };
  }

  async listInvitations(): Promise<InvitationEntry[]> {
    return (await this.call('invite.list', {})).invitations;
  }

  /** Withdraws pending invitations by UID or by email; returns how many. */
  async removeInvitation(uidOrEmail: string): Promise<number> {
    const byUid = UID_PATTERN.test(uidOrEmail);
    return (await this.call('invite.remove', byUid ? { invitationUid: uidOrEmail } : { email: uidOrEmail })).removed;
  }

  // ---- roles and enforcement policies ----

  listRoles(): Promise<{ roles: RoleEntry[]; policies: string[] }> {
    return this.call('role.list', {});
  }

  async addRole(name: string, policies: string[]): Promise<string> {
    return (await this.call('role.add', { name, policies })).roleUid;
  }

  async updateRole(name: string, policies: string[]): Promise<void> {
    await this.call('role.update', { name, policies });
  }

  async removeRole(name: string): Promise<void> {
    await this.call('role.remove', { name });
  }

  async assignRole(name: string, email: string): Promise<void> {
    await this.call('role.assign', { name, email });
  }

  async unassignRole(name: string, email: string): Promise<void> {
    await this.call('role.unassign', { name, email });
  }

  myPolicies(): Promise<{ policies: string[]; administrator: boolean }> {
    return this.call('policy.mine', {});
  }

  // ---- rotation settings ----

  setRotation(recordUid: string, settings: { configurationUid: string; resourceUid?: string; schedule: RotationSchedule }): Promise<RotationEntry> {
    return this.call('rotation.set', { recordUid, ...settings });
  }

  getRotation(recordUid: string): Promise<RotationEntry> {
    return this.call('rotation.get', { recordUid });
  }

  async clearRotation(recordUid: string): Promise<void> {
    await this.call('rotation.clear', { recordUid });
  }

  isUid(value: string): boolean {
    return UID_PATTERN.test(value);
  }
}

function randomName(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(10), (b) => alphabet[b % alphabet.length]).join('');
}

/**
 * A resource gets its tunnel signalling seed when it is created, here in the vault: the seed is
 * inside the encrypted record, so only people and gateways who can read the record derive the key.
 */
export function withTrafficSeed(data: RecordData): RecordData {
  if (!isResourceRecordType(data.type)) return data;
  const fields = data.fields as Record<string, unknown>;
  if (typeof fields['trafficEncryptionSeed'] === 'string' && fields['trafficEncryptionSeed'] !== '') return data;
  return { ...data, fields: { ...fields, trafficEncryptionSeed: newTrafficEncryptionSeed() } } as RecordData;
}
