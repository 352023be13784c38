/**
 * Device → Router secrets API (the Keeper Secrets Manager equivalent).
 *
 * `POST /api/v1/secrets/<operation>` with
 *   x-postern-client-id:        base64url clientId (HMAC-SHA512(token, "POSTERN_CLIENT_ID"))
 *   x-postern-transmission-key: base64url ECIES(routerPublicKey, transmissionKey)
 *   x-postern-signature:        base64url ECDSA-P256(devicePrivateKey, signedBytes(...))
 *   body:                       AES-GCM(transmissionKey, JSON {timestamp, nonce, body}) raw bytes
 * The signature covers the operation name, the wrapped key and the exact body bytes sent.
 */
import { z } from 'zod';
import { concatBytes, utf8 } from '../crypto/index.ts';
import type { ScriptApproval } from './script-approval.ts';
import { b64u, MAX_FILE_CIPHERTEXT_B64, MAX_RECORD_CIPHERTEXT, recordTypeName, uid } from './vault-api.ts';

export const SECRETS_HEADERS = {
  clientId: 'x-postern-client-id',
  transmissionKey: 'x-postern-transmission-key',
  signature: 'x-postern-signature',
} as const;

/** A request older or newer than this is refused as expired. */
export const REQUEST_MAX_SKEW_MS = 5 * 60 * 1000;

export function signedBytes(operation: string, wrappedKey: Uint8Array, body: Uint8Array): Uint8Array {
  return concatBytes(utf8(`postern/secrets/${operation}\n`), wrappedKey, body);
}

export const requestFrameSchema = z.object({
  timestamp: z.number().int().positive(),
  nonce: b64u(64).min(16),
  body: z.unknown(),
});

export const secretsOperations = {
  register: z.object({ publicKey: b64u(128) }),
  get_secret: z.object({ recordUids: z.array(uid()).max(1000).optional() }),
  get_folders: z.object({}),
  create_secret: z.object({
    folderUid: uid(),
    recordUid: uid(),
    type: recordTypeName(),
    recordKey: b64u(256),
    data: b64u(MAX_RECORD_CIPHERTEXT),
  }),
  update_secret: z.object({
    recordUid: uid(),
    revision: z.number().int().min(1),
    data: b64u(MAX_RECORD_CIPHERTEXT),
    transactionType: z.enum(['general', 'rotation']).default('general'),
  }),
  finalize_secret_update: z.object({ recordUid: uid(), rollback: z.boolean() }),
  delete_secret: z.object({ recordUids: z.array(uid()).min(1).max(100) }),
  add_file: z.object({
    recordUid: uid(),
    fileUid: uid(),
    fileKey: b64u(256),
    metadata: b64u(4096),
    content: b64u(MAX_FILE_CIPHERTEXT_B64),
  }),
  download_file: z.object({ fileUid: uid() }),
} as const;

export type SecretsOperation = keyof typeof secretsOperations;
export type SecretsRequest<O extends SecretsOperation> = z.input<(typeof secretsOperations)[O]>;
export type SecretsInput<O extends SecretsOperation> = z.output<(typeof secretsOperations)[O]>;

export function isSecretsOperation(name: string): name is SecretsOperation {
  return Object.hasOwn(secretsOperations, name);
}

export interface DeviceFolder {
  folderUid: string;
  folderKey: string; // AES-GCM(appKey, folderKey)
  canEdit: boolean;
  encryptedName: string; // AES-GCM(folderKey, name)
}

export interface DeviceFile {
  fileUid: string;
  kind: 'attachment' | 'script';
  fileKey: string; // AES-GCM(recordKey, fileKey)
  metadata: string;
  size: number;
  /** For scripts: the Router-signed approval by a holder of manage_rotation_scripts (./script-approval.ts); null when none. */
  approval: ScriptApproval | null;
}

export interface DeviceRecord {
  recordUid: string;
  folderUid: string;
  type: string;
  revision: number;
  recordKey: string; // AES-GCM(folderKey, recordKey)
  data: string;
  /** A rotation transaction in flight: the new content, not yet final. */
  pending: { data: string; baseRevision: number; createdAt: number } | null;
  files: DeviceFile[];
  links: { childUid: string; kind: string }[];
}

export interface SecretsResponses {
  register: { appUid: string; wrappedAppKey: string; deviceUid: string };
  get_secret: { appUid: string; folders: DeviceFolder[]; records: DeviceRecord[] };
  get_folders: { folders: DeviceFolder[] };
  create_secret: { revision: number };
  update_secret: { revision: number; pending: boolean };
  finalize_secret_update: { revision: number; rolledBack: boolean };
  delete_secret: { results: { recordUid: string; status: 'deleted' | 'not_allowed' }[] };
  add_file: Record<string, never>;
  download_file: DeviceFile & { recordUid: string; content: string };
}
