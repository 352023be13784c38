/**
 * Vault → Router commands. Each command is `POST /api/v1/vault/<name>` carrying a
 * transmission envelope (./envelope.ts) whose plaintext is `{ session?, body }`.
 * Request bodies are validated with these schemas on the Router; clients use the inferred
 * types. Every field that holds key material or record content is client-made ciphertext
 * (base64url); the Router never sees a key or a secret it could open.
 */
import { z } from 'zod';
import { UID_PATTERN } from '../ids.ts';
import { rotationScheduleSchema } from '../schedule/rotation-schedule.ts';
import type { ScriptApproval } from './script-approval.ts';

export const b64u = (max = 4096) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, 'expected base64url');
export const uid = () => z.string().regex(UID_PATTERN, 'expected a 22-character UID');
/** An action's name on the wire (./actions.ts lists the ones there are; an unknown one is refused by name, not as malformed). */
export const actionName = () => z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, 'expected an action name like "rotate"');
export const email = () => z.string().trim().toLowerCase().max(254).email('expected an email address');

/** Ciphertext limits: records are small, files have their own command. */
export const MAX_RECORD_CIPHERTEXT = 256 * 1024;
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
export const MAX_FILE_CIPHERTEXT_B64 = Math.ceil(((MAX_FILE_BYTES + 28) * 4) / 3) + 4;

export const kdfParamsSchema = z.object({
  algorithm: z.literal('pbkdf2-sha256'),
  iterations: z.number().int().min(600_000).max(10_000_000),
  salt: b64u(64).min(22),
});

export const recordTypeName = () => z.string().min(1).max(64);

export const vaultCommands = {
  'account.prelogin': z.object({ email: email() }),
  'account.register': z.object({
    email: email(),
    kdf: kdfParamsSchema,
    authHash: b64u(64).length(43),
    encryptedDataKey: b64u(256),
    publicKey: b64u(128),
    encryptedPrivateKey: b64u(256),
    /** An invitation code from `postern invite add` (./invitation-code.ts); the first account and open registration need none. */
    invitation: z.string().trim().min(1).max(64).optional(),
  }),
  'account.login': z.object({ email: email(), authHash: b64u(64).length(43) }),
  'account.logout': z.object({}),
  'account.whoami': z.object({}),
  'session.store-key': z.object({ sessionDataKey: b64u(256) }),
  'session.keys': z.object({}),
  'users.public-key': z.object({ email: email() }),
  'vault.sync': z.object({}),
  'folder.add': z.object({
    folderUid: uid(),
    parentUid: uid().optional(),
    shared: z.boolean(),
    encryptedName: b64u(2048),
    folderKey: b64u(256),
  }),
  'folder.share': z.object({
    folderUid: uid(),
    userUid: uid(),
    wrappedFolderKey: b64u(512),
    canEdit: z.boolean(),
    canShare: z.boolean(),
  }),
  'record.add': z.object({
    recordUid: uid(),
    type: recordTypeName(),
    folderUid: uid().optional(),
    recordKey: b64u(256),
    data: b64u(MAX_RECORD_CIPHERTEXT),
  }),
  'record.update': z.object({
    recordUid: uid(),
    revision: z.number().int().min(1),
    data: b64u(MAX_RECORD_CIPHERTEXT),
  }),
  'record.get': z.object({ recordUid: uid() }),
  'record.delete': z.object({ recordUid: uid() }),
  'record.link': z.object({ parentUid: uid(), childUid: uid(), kind: z.enum(['admin_credential', 'credential']) }),
  'file.upload': z.object({
    fileUid: uid(),
    recordUid: uid(),
    kind: z.enum(['attachment', 'script']),
    fileKey: b64u(256),
    metadata: b64u(4096),
    content: b64u(MAX_FILE_CIPHERTEXT_B64),
  }),
  'file.download': z.object({ fileUid: uid() }),
  /** Approve a post-rotation script already attached (one attached before approvals existed, or by someone without the policy). */
  'file.script.approve': z.object({ fileUid: uid() }),
  'app.create': z.object({ appUid: uid(), appKey: b64u(256), data: b64u(4096) }),
  'app.share': z.object({ appUid: uid(), folderUid: uid(), wrappedFolderKey: b64u(256), canEdit: z.boolean() }),
  'app.client.add': z.object({
    appUid: uid(),
    clients: z
      .array(
        z.object({
          clientIdHash: b64u(64).length(43),
          wrappedAppKey: b64u(256),
          name: z.string().trim().min(1).max(64),
          firstAccessExpiresInMinutes: z.number().int().min(1).max(1440),
          accessExpiresInMinutes: z
            .number()
            .int()
            .min(1)
            .max(525_600 * 10)
            .optional(),
          ipLock: z.boolean(),
        }),
      )
      .min(1)
      .max(100),
    /** A gateway is a device of the application that also holds the Router WebSocket. */
    kind: z.enum(['device', 'gateway']).default('device'),
  }),
  'app.client.list': z.object({ appUid: uid() }),
  'app.client.remove': z.object({ appUid: uid(), deviceUid: uid() }),
  'gateway.list': z.object({}),
  'gateway.remove': z.object({ gatewayUid: uid() }),
  'pam.config.set': z.object({
    configUid: uid(),
    gatewayUid: uid(),
    features: z.object({
      rotation: z.boolean(),
      connections: z.boolean(),
      remoteBrowserIsolation: z.boolean(),
      tunneling: z.boolean(),
      graphicalRecording: z.boolean(),
      typescriptRecording: z.boolean(),
    }),
  }),
  'action.send': z.object({
    // The frame is the same for every action; the Router parses `params` with the action's own
    // schema (./actions.ts), and the typed request is ActionRequest<N> (core/vault-client `action`).
    action: actionName(),
    recordUid: uid().optional(),
    configurationUid: uid().optional(),
    resourceUid: uid().optional(),
    gatewayUid: uid().optional(),
    jobUid: uid().optional(),
    // 32 KiB: a sealed WebRTC offer with every ICE candidate of a multi-homed host fits.
    params: z.record(z.string(), z.union([z.string().max(32_768), z.number(), z.boolean(), z.null()])).optional(),
    timeoutMs: z.number().int().min(100).max(600_000).optional(),
  }),
  'job.get': z.object({ jobUid: uid(), afterSeq: z.number().int().min(0).default(0) }),
  'relay.credentials': z.object({}),
  'job.list': z.object({ limit: z.number().int().min(1).max(500).default(50) }),
  'invite.add': z.object({
    email: email(),
    /** SHA-256 of the code (./invitation-code.ts): the code itself is made by the administrator's client and never sent. */
    codeHash: b64u(64).length(43),
    expiresInMinutes: z
      .number()
      .int()
      .min(1)
      .max(90 * 24 * 60),
  }),
  'invite.list': z.object({}),
  'invite.remove': z
    .object({ invitationUid: uid().optional(), email: email().optional() })
    .refine((v) => (v.invitationUid === undefined) !== (v.email === undefined), 'give exactly one of invitationUid or email'),
  'role.list': z.object({}),
  'role.add': z.object({ name: z.string().trim().min(1).max(64), policies: z.array(z.string().max(64)).max(32) }),
  'role.update': z.object({ name: z.string().trim().min(1).max(64), policies: z.array(z.string().max(64)).max(32) }),
  'role.remove': z.object({ name: z.string().trim().min(1).max(64) }),
  'role.assign': z.object({ name: z.string().trim().min(1).max(64), email: email() }),
  'role.unassign': z.object({ name: z.string().trim().min(1).max(64), email: email() }),
  'policy.mine': z.object({}),
  'rotation.set': z.object({ recordUid: uid(), configurationUid: uid(), resourceUid: uid().optional(), schedule: rotationScheduleSchema }),
  'rotation.get': z.object({ recordUid: uid() }),
  'rotation.clear': z.object({ recordUid: uid() }),
  'events.list': z.object({
    limit: z.number().int().min(1).max(1000).default(100),
    action: z.string().max(64).optional(),
    recordUid: uid().optional(),
  }),
} as const;

export type VaultCommand = keyof typeof vaultCommands;
export type VaultRequest<C extends VaultCommand> = z.input<(typeof vaultCommands)[C]>;
export type VaultInput<C extends VaultCommand> = z.output<(typeof vaultCommands)[C]>;

/** Commands a caller may send without a session. */
export const PUBLIC_VAULT_COMMANDS: ReadonlySet<VaultCommand> = new Set(['account.prelogin', 'account.register', 'account.login']);

/** Commands whose envelope may exceed the default body limit. */
export const LARGE_VAULT_COMMANDS: ReadonlySet<VaultCommand> = new Set(['file.upload']);

export function isVaultCommand(name: string): name is VaultCommand {
  return Object.hasOwn(vaultCommands, name);
}

// ---- responses (plaintext JSON inside the response envelope) ----

export interface FolderEntry {
  folderUid: string;
  parentUid: string | null;
  ownerUid: string;
  shared: boolean;
  encryptedName: string;
  keyType: 'data_key' | 'ecies';
  folderKey: string;
  canEdit: boolean;
  canShare: boolean;
  isOwner: boolean;
  members?: { userUid: string; email: string; canEdit: boolean; canShare: boolean; isOwner: boolean }[];
}

export interface FileEntry {
  fileUid: string;
  recordUid: string;
  kind: 'attachment' | 'script';
  fileKey: string;
  metadata: string;
  size: number;
  /** Scripts: the Router-signed approval by a holder of manage_rotation_scripts; gateways run only approved scripts. */
  approval: ScriptApproval | null;
}

export interface RecordEntry {
  recordUid: string;
  ownerUid: string;
  type: string;
  folderUid: string | null;
  keyType: 'data_key' | 'folder_key';
  recordKey: string;
  revision: number;
  data: string;
  updatedAt: number;
  canEdit: boolean;
  files: FileEntry[];
  links: { childUid: string; kind: string }[];
}

export interface ApplicationEntry {
  appUid: string;
  appKey: string;
  data: string;
  createdAt: number;
  folders: { folderUid: string; canEdit: boolean }[];
}

export interface DeviceEntry {
  deviceUid: string;
  kind: 'device' | 'gateway';
  name: string;
  createdAt: number;
  firstAccessExpiresAt: number;
  accessExpiresAt: number | null;
  registeredAt: number | null;
  lastSeenAt: number | null;
  ipLock: boolean;
  lockedIp: string | null;
  revokedAt: number | null;
}

export interface EventEntry {
  uid: string;
  at: number;
  actorKind: string;
  actor: string;
  action: string;
  recordUid: string | null;
  clientIp: string;
  outcome: 'ok' | 'denied' | 'failed';
  detail: Record<string, unknown> | null;
}

export interface GatewayEntry {
  gatewayUid: string;
  appUid: string;
  name: string;
  online: boolean;
  version: string | null;
  address: string | null;
  connectedSince: number | null;
  workerId: string | null;
  createdAt: number;
  registeredAt: number | null;
  revokedAt: number | null;
}

export interface JobEntry {
  jobUid: string;
  gatewayUid: string;
  action: string;
  recordUid: string | null;
  status: 'running' | 'interrupted' | 'finished' | 'failed' | 'cancelled';
  progress: number;
  /** Plaintext: never names a host or a login. */
  step: string | null;
  /** For a job on a record, sealed to the record's readers (core/protocol/job-log.ts); a failure's code stays in front. */
  message: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

/** An RTCIceServer as WebRTC stacks take it. */
export interface IceServerEntry {
  urls: string[];
  username: string;
  credential: string;
}

export interface ActionOutcome {
  code: 'ok' | 'bad_request' | 'not_allowed' | 'timeout' | 'controller_down' | 'wrong_instance' | 'bad_state';
  data?: unknown;
  message?: string;
  jobUid?: string;
  gatewayUid?: string;
}

export interface RoleEntry {
  roleUid: string;
  name: string;
  policies: string[];
  members: string[];
}

export interface InvitationEntry {
  invitationUid: string;
  email: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

export interface RotationEntry {
  recordUid: string;
  configurationUid: string;
  resourceUid: string | null;
  schedule: z.output<typeof rotationScheduleSchema>;
  nextRunAt: number | null;
  updatedAt: number;
}

export interface VaultResponses {
  'account.prelogin': { kdf: z.infer<typeof kdfParamsSchema> };
  'account.register': { userUid: string };
  'account.login': {
    sessionToken: string;
    expiresAt: number;
    userUid: string;
    encryptedDataKey: string;
    publicKey: string;
    encryptedPrivateKey: string;
  };
  'account.logout': Record<string, never>;
  'account.whoami': { userUid: string; email: string; sessionExpiresAt: number; publicKey: string };
  'session.store-key': Record<string, never>;
  'session.keys': { sessionDataKey: string; encryptedPrivateKey: string; publicKey: string; userUid: string; email: string };
  'users.public-key': { userUid: string; publicKey: string };
  'vault.sync': { folders: FolderEntry[]; records: RecordEntry[]; applications: ApplicationEntry[] };
  'folder.add': Record<string, never>;
  'folder.share': Record<string, never>;
  'record.add': { revision: number };
  'record.update': { revision: number };
  'record.get': RecordEntry & { folderKey?: { keyType: 'data_key' | 'ecies'; wrappedKey: string } };
  'record.delete': Record<string, never>;
  'record.link': Record<string, never>;
  'file.upload': Record<string, never>;
  'file.download': FileEntry & { content: string };
  'file.script.approve': { approval: ScriptApproval };
  'app.create': Record<string, never>;
  'app.share': Record<string, never>;
  'app.client.add': { devices: { deviceUid: string; name: string; firstAccessExpiresAt: number }[] };
  'app.client.list': { devices: DeviceEntry[] };
  'app.client.remove': Record<string, never>;
  'events.list': { events: EventEntry[] };
  'gateway.list': { gateways: GatewayEntry[] };
  'gateway.remove': Record<string, never>;
  'pam.config.set': Record<string, never>;
  'action.send': ActionOutcome;
  'relay.credentials': { iceServers: IceServerEntry[]; expiresAt: number | null };
  /** Log lines of a job on a record are sealed like its message (core/vault-client/job-log.ts opens them). */
  'job.get': { job: JobEntry; logs: { seq: number; at: number; line: string }[] };
  'job.list': { jobs: JobEntry[] };
  'invite.add': { invitationUid: string; email: string; expiresAt: number };
  'invite.list': { invitations: InvitationEntry[] };
  'invite.remove': { removed: number };
  'role.list': { roles: RoleEntry[]; policies: string[] };
  'role.add': { roleUid: string };
  'role.update': Record<string, never>;
  'role.remove': Record<string, never>;
  'role.assign': Record<string, never>;
  'role.unassign': Record<string, never>;
  'policy.mine': { policies: string[]; administrator: boolean };
  'rotation.set': RotationEntry;
  'rotation.get': RotationEntry;
  'rotation.clear': Record<string, never>;
}
