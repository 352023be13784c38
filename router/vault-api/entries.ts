/** Row → wire shapes shared by the vault and the secrets endpoints. */
import type { Kysely, Selectable } from 'kysely';
import type { ScriptApproval } from '../../core/protocol/script-approval.ts';
import type { FileEntry, RecordEntry } from '../../core/protocol/vault-api.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database, FilesTable } from '../../core/storage/schema.ts';
import type { RecordRow } from '../access/records.ts';

export function toFileEntry(row: Omit<Selectable<FilesTable>, 'content'>): FileEntry {
  return {
    fileUid: row.uid,
    recordUid: row.record_uid,
    kind: row.kind,
    fileKey: row.file_key,
    metadata: row.metadata,
    size: Number(row.size),
    approval: approvalOf(row),
  };
}

/** The Router-signed approval of a script (core/protocol/script-approval.ts), when it has one. */
function approvalOf(row: Pick<Selectable<FilesTable>, 'approved_by' | 'approved_at' | 'approval_signature'>): ScriptApproval | null {
  if (row.approved_by === null || row.approved_at === null || row.approval_signature === null) return null;
  return { approvedBy: row.approved_by, approvedAt: Number(row.approved_at), signature: row.approval_signature };
}

export interface RecordExtras {
  files: Map<string, FileEntry[]>;
  links: Map<string, { childUid: string; kind: string }[]>;
}

/** D1 binds at most 100 parameters per statement; stay under it on every backend. */
const IN_LIST_CHUNK = 90;

export const FILE_COLUMNS = [
  'uid',
  'record_uid',
  'kind',
  'file_key',
  'metadata',
  'size',
  'uploaded_by',
  'created_at',
  'approved_by',
  'approved_at',
  'approval_signature',
] as const;

/** The extras of one record, on the path of every record read: prepared (core/storage/prepared.ts). */
const filesOfRecord = prepareQuery<Database, { recordUid: string }>()((db, $) =>
  db.selectFrom('files').select(FILE_COLUMNS).where('record_uid', '=', $.recordUid).orderBy('created_at'),
);
const linksOfRecord = prepareQuery<Database, { recordUid: string }>()((db, $) =>
  db.selectFrom('record_links').select(['parent_uid', 'child_uid', 'kind']).where('parent_uid', '=', $.recordUid),
);

type FileRow = Omit<Selectable<FilesTable>, 'content'>;
type LinkRow = { parent_uid: string; child_uid: string; kind: string };

/** Adds file and link rows to `extras` by record, keeping only the records `keep` accepts (all by default). */
export function addExtras(
  extras: RecordExtras,
  fileRows: readonly FileRow[],
  linkRows: readonly LinkRow[],
  keep: (recordUid: string) => boolean = () => true,
): void {
  for (const row of fileRows) {
    if (!keep(row.record_uid)) continue;
    const list = extras.files.get(row.record_uid) ?? [];
    list.push(toFileEntry(row));
    extras.files.set(row.record_uid, list);
  }
  for (const row of linkRows) {
    if (!keep(row.parent_uid)) continue;
    const list = extras.links.get(row.parent_uid) ?? [];
    list.push({ childUid: row.child_uid, kind: row.kind });
    extras.links.set(row.parent_uid, list);
  }
}

/** Loads file and link metadata for many records with two queries, not two per record. */
export async function loadRecordExtras(db: Kysely<Database>, recordUids: string[]): Promise<RecordExtras> {
  const extras: RecordExtras = { files: new Map(), links: new Map() };
  const one = recordUids.length === 1 ? { recordUid: recordUids[0]! } : null;
  for (let i = 0; i < recordUids.length; i += IN_LIST_CHUNK) {
    const chunk = recordUids.slice(i, i + IN_LIST_CHUNK);
    const fileRows = one
      ? await filesOfRecord.all(db, one)
      : await db.selectFrom('files').select(FILE_COLUMNS).where('record_uid', 'in', chunk).orderBy('created_at').execute();
    const linkRows = one
      ? await linksOfRecord.all(db, one)
      : await db.selectFrom('record_links').select(['parent_uid', 'child_uid', 'kind']).where('parent_uid', 'in', chunk).execute();
    addExtras(extras, fileRows, linkRows);
  }
  return extras;
}

export function toRecordEntry(row: RecordRow, canEdit: boolean, extras: RecordExtras): RecordEntry {
  return {
    recordUid: row.uid,
    ownerUid: row.owner_uid,
    type: row.type,
    folderUid: row.folder_uid,
    keyType: row.key_type,
    recordKey: row.record_key,
    revision: Number(row.revision),
    data: row.data,
    updatedAt: Number(row.updated_at),
    canEdit,
    files: extras.files.get(row.uid) ?? [],
    links: extras.links.get(row.uid) ?? [],
  };
}

/** Approximate decoded size of a base64url string, for quotas and display. */
export function base64UrlByteLength(value: string): number {
  return Math.floor((value.length * 3) / 4);
}
