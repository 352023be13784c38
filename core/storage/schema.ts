/**
 * The Router's storage schema. Everything a user would call a secret is stored as
 * ciphertext (base64url text) produced on a client; the Router stores and returns it.
 * Times are integer milliseconds since the epoch; booleans are 0/1 so the same schema
 * runs on SQLite, PostgreSQL and D1.
 */
import type { ColumnType } from 'kysely';

type Millis = ColumnType<number, number, number>;
type Flag = ColumnType<number, number | undefined, number>;

export interface UsersTable {
  uid: string;
  email: string;
  kdf: string; // JSON KdfParams: algorithm, iterations, salt (public by design)
  auth_salt: string;
  auth_verifier: string; // SHA-256(auth_salt ‖ authHash); the auth hash itself is never stored
  encrypted_data_key: string; // AES-GCM(encryptionKey, dataKey)
  public_key: string;
  encrypted_private_key: string; // AES-GCM(dataKey, privateKey)
  created_at: Millis;
  is_admin: Flag; // the first account on a Router administers its roles
}

export interface SessionsTable {
  token_hash: string; // SHA-256 of the bearer token; the token lives only on the client
  user_uid: string;
  created_at: Millis;
  expires_at: Millis;
  client_ip: string;
  session_data_key: string | null; // AES-GCM(clientKey, dataKey); clientKey never leaves the client
}

export interface LoginFailuresTable {
  uid: string;
  email: string;
  client_ip: string;
  at: Millis;
  throttled: Flag; // 1: refused while throttled, no password was checked
}

export interface FoldersTable {
  uid: string;
  owner_uid: string;
  parent_uid: string | null;
  shared: Flag;
  encrypted_name: string; // AES-GCM(folderKey, name)
  created_at: Millis;
}

export interface FolderMembersTable {
  folder_uid: string;
  user_uid: string;
  key_type: 'data_key' | 'ecies';
  wrapped_key: string; // folder key wrapped by the member's data key, or ECIES to their public key
  can_edit: Flag;
  can_share: Flag;
  is_owner: Flag;
  added_at: Millis;
}

export interface RecordsTable {
  uid: string;
  owner_uid: string;
  type: string; // the record type name is metadata the Router needs for policy; the content is not
  folder_uid: string | null;
  key_type: 'data_key' | 'folder_key';
  record_key: string; // wrapped by the owner's data key or by the folder key
  revision: number;
  data: string; // AES-GCM(recordKey, RecordData JSON)
  created_at: Millis;
  updated_at: Millis;
}

export interface RecordRevisionsTable {
  record_uid: string;
  revision: number;
  data: string;
  actor: string;
  created_at: Millis;
}

export interface RecordLinksTable {
  parent_uid: string;
  child_uid: string;
  kind: string;
  created_by: string;
  created_at: Millis;
}

export interface RecordTransactionsTable {
  record_uid: string;
  kind: 'rotation';
  base_revision: number;
  data: string;
  actor: string;
  created_at: Millis;
}

export interface FilesTable {
  uid: string;
  record_uid: string;
  kind: 'attachment' | 'script';
  file_key: string; // AES-GCM(recordKey, fileKey)
  metadata: string; // AES-GCM(fileKey, {name, mime, size})
  content: string; // AES-GCM(fileKey, bytes), base64url
  size: number; // ciphertext bytes
  uploaded_by: string;
  created_at: Millis;
  /** Scripts: who approved it (a holder of manage_rotation_scripts), when, and the Router's signature over it. */
  approved_by: ColumnType<string | null, string | null | undefined, string | null>;
  approved_at: ColumnType<number | null, number | null | undefined, number | null>;
  approval_signature: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ApplicationsTable {
  uid: string;
  owner_uid: string;
  app_key: string; // AES-GCM(owner dataKey, appKey)
  data: string; // AES-GCM(appKey, {name})
  created_at: Millis;
}

export interface ApplicationFoldersTable {
  app_uid: string;
  folder_uid: string;
  wrapped_folder_key: string; // AES-GCM(appKey, folderKey)
  can_edit: Flag;
  added_at: Millis;
}

export interface DevicesTable {
  uid: string;
  app_uid: string;
  client_id_hash: string; // SHA-256(clientId); clientId = HMAC-SHA512(token, "POSTERN_CLIENT_ID")
  name: string;
  wrapped_app_key: string; // AES-GCM(HKDF(token), appKey): only the token holder can open it
  public_key: string | null; // registered on first use
  ip_lock: Flag;
  locked_ip: string | null;
  created_at: Millis;
  first_access_expires_at: Millis;
  access_expires_at: number | null;
  registered_at: number | null;
  last_seen_at: number | null;
  revoked_at: number | null;
  kind: ColumnType<'device' | 'gateway', 'device' | 'gateway' | undefined, 'device' | 'gateway'>;
}

export interface DeviceNoncesTable {
  device_uid: string;
  nonce: string;
  expires_at: Millis;
}

/** Nonces of vault requests already served, kept until their timestamp could no longer be accepted. */
export interface VaultNoncesTable {
  nonce: string;
  expires_at: Millis;
}

export interface EventsTable {
  uid: string;
  at: Millis;
  actor_kind: 'user' | 'device' | 'anonymous' | 'system';
  actor: string; // user email, device uid, or the email that was attempted
  owner_uid: string | null; // whose audit trail the event belongs to
  action: string;
  record_uid: string | null;
  client_ip: string;
  outcome: 'ok' | 'denied' | 'failed';
  detail: string | null; // JSON with codes and uids only, never a secret
}

export interface GatewaySessionsTable {
  gateway_uid: string;
  worker_id: string;
  address: string;
  version: string;
  connected_at: Millis;
  last_seen_at: Millis;
}

export interface JobsTable {
  uid: string;
  gateway_uid: string;
  owner_uid: string;
  action: string;
  record_uid: string | null;
  status: 'running' | 'interrupted' | 'finished' | 'failed' | 'cancelled';
  progress: number;
  step: string | null;
  message: string | null; // scrubbed by the gateway; never a secret
  created_by: string;
  created_at: Millis;
  updated_at: Millis;
}

export interface JobLogsTable {
  job_uid: string;
  seq: number;
  at: Millis;
  line: string;
}

export interface RolesTable {
  uid: string;
  name: string;
  policies: string; // JSON array of policy names
  created_at: Millis;
}

export interface RoleMembersTable {
  role_uid: string;
  user_uid: string;
}

/** Plaintext routing metadata of a pamConfiguration record: not secret, needed to authorise. */
export interface PamConfigurationsTable {
  config_uid: string;
  gateway_uid: string;
  features: string; // JSON PamFeatures
  updated_by: string;
  updated_at: Millis;
}

export interface RotationSchedulesTable {
  record_uid: string;
  configuration_uid: string;
  resource_uid: string | null;
  schedule: string; // JSON RotationSchedule
  next_run_at: number | null;
  owner_uid: string;
  updated_at: Millis;
}

export interface ScheduleRunsTable {
  record_uid: string;
  due_at: Millis;
  fired_at: Millis;
  fired_by: string;
  outcome: string;
}

export interface InvitationsTable {
  uid: string;
  code_hash: string; // SHA-256 of the invitation code; the code itself is never stored
  email: string;
  created_by: string; // the administrator's user UID
  created_at: Millis;
  expires_at: Millis;
  used_at: ColumnType<number | null, number | null | undefined, number | null>;
  used_by: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  login_failures: LoginFailuresTable;
  folders: FoldersTable;
  folder_members: FolderMembersTable;
  records: RecordsTable;
  record_revisions: RecordRevisionsTable;
  record_links: RecordLinksTable;
  record_transactions: RecordTransactionsTable;
  files: FilesTable;
  applications: ApplicationsTable;
  application_folders: ApplicationFoldersTable;
  devices: DevicesTable;
  device_nonces: DeviceNoncesTable;
  vault_nonces: VaultNoncesTable;
  events: EventsTable;
  gateway_sessions: GatewaySessionsTable;
  jobs: JobsTable;
  job_logs: JobLogsTable;
  roles: RolesTable;
  role_members: RoleMembersTable;
  pam_configurations: PamConfigurationsTable;
  rotation_schedules: RotationSchedulesTable;
  schedule_runs: ScheduleRunsTable;
  invitations: InvitationsTable;
}
