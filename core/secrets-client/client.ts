/**
 * The Secrets Manager client for devices and gateways: signed, encrypted requests to the
 * Router and local decryption of what the application was given.
 */
import {
  deviceClientId,
  ecdsaSign,
  fromBase64Url,
  generateAesKey,
  generateP256KeyPair,
  openBytes,
  openJsonValue,
  purposes,
  randomBytes,
  sealBytes,
  sealJsonValue,
  toBase64Url,
  tokenWrappingKey,
} from '../crypto/index.ts';
import { PosternError } from '../errors.ts';
import { newUid } from '../ids.ts';
import { openJson, ReusedTransmissionKey, sealWithKey } from '../protocol/envelope.ts';
import { SECRETS_HEADERS, signedBytes, type DeviceRecord, type SecretsOperation, type SecretsRequest, type SecretsResponses } from '../protocol/secrets-api.ts';
import { validateRecordData, type RecordData } from '../records/index.ts';
import { errorFromResponse, fetchRouterKeys, normaliseServerUrl, type FetchLike } from '../vault-client/transport.ts';
import { fileContentDigest, type ScriptApproval } from '../protocol/script-approval.ts';
import type { SecretsConfig } from './config.ts';
import { parseOneTimeToken } from './token.ts';

export interface SecretRecord {
  uid: string;
  type: string;
  folderUid: string;
  revision: number;
  data: RecordData;
  /** A rotation in flight: the new content stored before the target was changed. */
  pending: { data: RecordData; baseRevision: number; createdAt: number } | null;
  files: { uid: string; kind: 'attachment' | 'script'; name: string; mime: string; size: number; approval: ScriptApproval | null }[];
  links: { childUid: string; kind: string }[];
}

export interface SecretFolder {
  uid: string;
  name: string;
  canEdit: boolean;
}

export interface PreparedRequest {
  operation: SecretsOperation;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
  transmissionKey: Uint8Array;
}

export interface PrepareOptions {
  timestamp?: number;
  nonce?: string;
  /** Sign with another key (tests of the Router's refusals use this). */
  signingKey?: Uint8Array;
}

export class SecretsClient {
  readonly config: SecretsConfig;
  private readonly fetchImpl: FetchLike;
  private readonly appKey: Uint8Array;
  /** Decoded once: core/crypto imports a key into WebCrypto once per array that holds it. */
  private readonly signingKey: Uint8Array;
  private readonly transmissionKey: ReusedTransmissionKey;
  private folderKeys = new Map<string, Uint8Array>();
  private recordKeys = new Map<string, Uint8Array>();

  constructor(config: SecretsConfig, fetchImpl: FetchLike = fetch) {
    this.config = config;
    this.fetchImpl = fetchImpl;
    this.appKey = fromBase64Url(config.appKey);
    this.signingKey = fromBase64Url(config.privateKey);
    this.transmissionKey = new ReusedTransmissionKey(fromBase64Url(config.routerPublicKey));
  }

  /** Redeems a one-time token: registers a fresh device key and returns the configuration to keep. */
  static async redeemToken(token: string, options: { server?: string; fetch?: FetchLike } = {}): Promise<SecretsConfig> {
    const { host, secret } = parseOneTimeToken(token);
    const serverHint = options.server ?? host;
    if (!serverHint) throw new PosternError('bad_request', 'The token names no server; pass --server.');
    const server = normaliseServerUrl(serverHint);
    const fetchImpl = options.fetch ?? fetch;
    const routerKeys = await fetchRouterKeys(server, fetchImpl);
    const routerPublicKey = routerKeys.publicKey;
    const pair = generateP256KeyPair();
    const provisional: SecretsConfig = {
      version: 1,
      server,
      routerPublicKey: toBase64Url(routerPublicKey),
      clientId: toBase64Url(deviceClientId(secret)),
      privateKey: toBase64Url(pair.privateKey),
      appKey: toBase64Url(new Uint8Array(32)),
      appUid: '',
      deviceUid: '',
      ...(routerKeys.signingKey ? { routerSigningKey: toBase64Url(routerKeys.signingKey) } : {}),
    };
    const client = new SecretsClient(provisional, fetchImpl);
    const registered = await client.call('register', { publicKey: toBase64Url(pair.publicKey) });
    let appKey: Uint8Array;
    try {
      appKey = await openBytes(tokenWrappingKey(secret), registered.wrappedAppKey, purposes.deviceAppKey);
    } catch {
      throw new PosternError('decrypt_failed', 'The application key could not be opened with this token.');
    }
    return { ...provisional, appKey: toBase64Url(appKey), appUid: registered.appUid, deviceUid: registered.deviceUid };
  }

  async prepare<O extends SecretsOperation>(operation: O, body: SecretsRequest<O>, options: PrepareOptions = {}): Promise<PreparedRequest & { operation: O }> {
    const frame = { timestamp: options.timestamp ?? Date.now(), nonce: options.nonce ?? toBase64Url(randomBytes(16)), body };
    const sealed = await sealWithKey(await this.transmissionKey.next(), `secrets/${operation}`, frame);
    const signature = await ecdsaSign(options.signingKey ?? this.signingKey, signedBytes(operation, sealed.wrappedKey, sealed.ciphertext));
    return {
      operation,
      url: `${normaliseServerUrl(this.config.server)}/api/v1/secrets/${operation}`,
      headers: {
        'content-type': 'application/octet-stream',
        [SECRETS_HEADERS.clientId]: this.config.clientId,
        [SECRETS_HEADERS.transmissionKey]: toBase64Url(sealed.wrappedKey),
        [SECRETS_HEADERS.signature]: toBase64Url(signature),
      },
      body: sealed.ciphertext,
      transmissionKey: sealed.transmissionKey,
    };
  }

  async send<O extends SecretsOperation>(request: PreparedRequest & { operation: O }): Promise<SecretsResponses[O]> {
    let response: Response;
    try {
      response = await this.fetchImpl(request.url, { method: 'POST', headers: request.headers, body: request.body as Uint8Array<ArrayBuffer> });
    } catch (err) {
      throw new PosternError('unreachable', `Cannot reach the Postern server at ${this.config.server}: ${(err as Error).message}`);
    }
    if (!response.ok) throw await errorFromResponse(response);
    const bytes = new Uint8Array(await response.arrayBuffer());
    return (await openJson(request.transmissionKey, `secrets/${request.operation}/response`, bytes)) as SecretsResponses[O];
  }

  async call<O extends SecretsOperation>(operation: O, body: SecretsRequest<O>): Promise<SecretsResponses[O]> {
    return this.send(await this.prepare(operation, body));
  }

  // ---- reading ----

  private async openFolderKey(folderUid: string, wrapped: string): Promise<Uint8Array> {
    const key = await openBytes(this.appKey, wrapped, purposes.appFolderKey(this.config.appUid, folderUid));
    this.folderKeys.set(folderUid, key);
    return key;
  }

  private async openRecord(entry: DeviceRecord): Promise<SecretRecord> {
    const folderKey = this.folderKeys.get(entry.folderUid);
    if (!folderKey) throw new PosternError('decrypt_failed', `No key for the folder of record ${entry.recordUid}.`);
    const recordKey = await openBytes(folderKey, entry.recordKey, purposes.recordKey(entry.recordUid));
    this.recordKeys.set(entry.recordUid, recordKey);
    const open = async (sealed: string) => validateRecordData(await openJsonValue(recordKey, sealed, purposes.record(entry.recordUid)));
    return {
      uid: entry.recordUid,
      type: entry.type,
      folderUid: entry.folderUid,
      revision: entry.revision,
      data: await open(entry.data),
      pending: entry.pending ? { data: await open(entry.pending.data), baseRevision: entry.pending.baseRevision, createdAt: entry.pending.createdAt } : null,
      files: await Promise.all(
        entry.files.map(async (f) => {
          const fileKey = await openBytes(recordKey, f.fileKey, purposes.fileKey(f.fileUid));
          const meta = await openJsonValue<{ name: string; mime: string; size: number }>(fileKey, f.metadata, purposes.fileMetadata(f.fileUid));
          return { uid: f.fileUid, kind: f.kind, name: meta.name, mime: meta.mime, size: meta.size, approval: f.approval ?? null };
        }),
      ),
      links: entry.links,
    };
  }

  /** All records shared to the application, or just the given UIDs (`not_allowed` if any is not). */
  async getSecrets(recordUids?: string[]): Promise<SecretRecord[]> {
    const result = await this.call('get_secret', recordUids ? { recordUids } : {});
    for (const f of result.folders) await this.openFolderKey(f.folderUid, f.folderKey);
    return Promise.all(result.records.map((r) => this.openRecord(r)));
  }

  /** The key of a record this device has opened (undefined before), for what is sealed to that record's readers: job logs. */
  recordKey(recordUid: string): Uint8Array | undefined {
    return this.recordKeys.get(recordUid)?.slice();
  }

  async getSecret(recordUid: string): Promise<SecretRecord> {
    const [record] = await this.getSecrets([recordUid]);
    if (!record) throw new PosternError('not_allowed', `Record ${recordUid} is not shared to this application.`);
    return record;
  }

  async getFolders(): Promise<SecretFolder[]> {
    const { folders } = await this.call('get_folders', {});
    return Promise.all(
      folders.map(async (f) => {
        const key = await this.openFolderKey(f.folderUid, f.folderKey);
        return {
          uid: f.folderUid,
          name: new TextDecoder().decode(await openBytes(key, f.encryptedName, purposes.folderName(f.folderUid))),
          canEdit: f.canEdit,
        };
      }),
    );
  }

  // ---- writing ----

  async createSecret(folderUid: string, input: RecordData): Promise<string> {
    const data = validateRecordData(input);
    if (!this.folderKeys.has(folderUid)) await this.getFolders();
    const folderKey = this.folderKeys.get(folderUid);
    if (!folderKey) throw new PosternError('not_allowed', `Folder ${folderUid} is not shared to this application.`);
    const recordUid = newUid();
    const recordKey = generateAesKey();
    await this.call('create_secret', {
      folderUid,
      recordUid,
      type: data.type,
      recordKey: await sealBytes(folderKey, recordKey, purposes.recordKey(recordUid)),
      data: await sealJsonValue(recordKey, data, purposes.record(recordUid)),
    });
    return recordUid;
  }

  /**
   * Writes new content for a record. With `transaction: 'rotation'` the content is stored as
   * pending and the record keeps its current value until `finalizeSecretUpdate`.
   */
  async updateSecret(
    recordUid: string,
    change: (current: RecordData) => RecordData,
    options: { transaction?: 'general' | 'rotation' } = {},
  ): Promise<{ revision: number; pending: boolean; data: RecordData }> {
    const current = await this.getSecret(recordUid);
    const data = validateRecordData(change(current.data));
    const result = await this.call('update_secret', {
      recordUid,
      revision: current.revision,
      data: await sealJsonValue(this.recordKeys.get(recordUid)!, data, purposes.record(recordUid)),
      transactionType: options.transaction ?? 'general',
    });
    return { ...result, data };
  }

  finalizeSecretUpdate(recordUid: string, options: { rollback: boolean }) {
    return this.call('finalize_secret_update', { recordUid, rollback: options.rollback });
  }

  deleteSecrets(recordUids: string[]) {
    return this.call('delete_secret', { recordUids });
  }

  async addFile(recordUid: string, file: { name: string; mime?: string; bytes: Uint8Array }): Promise<string> {
    if (!this.recordKeys.has(recordUid)) await this.getSecret(recordUid);
    const recordKey = this.recordKeys.get(recordUid)!;
    const fileUid = newUid();
    const fileKey = generateAesKey();
    await this.call('add_file', {
      recordUid,
      fileUid,
      fileKey: await sealBytes(recordKey, fileKey, purposes.fileKey(fileUid)),
      metadata: await sealJsonValue(
        fileKey,
        { name: file.name, mime: file.mime ?? 'application/octet-stream', size: file.bytes.byteLength },
        purposes.fileMetadata(fileUid),
      ),
      content: await sealBytes(fileKey, file.bytes, purposes.fileContent(fileUid)),
    });
    return fileUid;
  }

  /** `contentDigest` is computed from the ciphertext received, for checking a script approval against it. */
  async downloadFile(fileUid: string): Promise<{
    name: string;
    mime: string;
    bytes: Uint8Array;
    kind: 'attachment' | 'script';
    recordUid: string;
    contentDigest: string;
    approval: ScriptApproval | null;
  }> {
    const file = await this.call('download_file', { fileUid });
    if (!this.recordKeys.has(file.recordUid)) await this.getSecret(file.recordUid);
    const fileKey = await openBytes(this.recordKeys.get(file.recordUid)!, file.fileKey, purposes.fileKey(fileUid));
    const meta = await openJsonValue<{ name: string; mime: string }>(fileKey, file.metadata, purposes.fileMetadata(fileUid));
    return {
      name: meta.name,
      mime: meta.mime,
      kind: file.kind,
      recordUid: file.recordUid,
      bytes: await openBytes(fileKey, file.content, purposes.fileContent(fileUid)),
      contentDigest: fileContentDigest(file),
      approval: file.approval ?? null,
    };
  }
}
