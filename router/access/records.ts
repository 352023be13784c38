/**
 * Who may see and change what. One place answers these questions so that every endpoint
 * refuses the same way: a record the caller cannot reach is `not_allowed`, whether or not
 * it exists, so UIDs cannot be probed.
 */
import type { Kysely, Selectable } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { Database, FolderMembersTable, RecordsTable } from '../../core/storage/schema.ts';

export type RecordRow = Selectable<RecordsTable>;
export type MemberRow = Selectable<FolderMembersTable>;

export interface UserRecordAccess {
  record: RecordRow;
  canEdit: boolean;
  isOwner: boolean;
  membership: MemberRow | null;
}

export async function folderMembership(db: Kysely<Database>, userUid: string, folderUid: string): Promise<MemberRow | null> {
  const row = await db
    .selectFrom('folder_members')
    .selectAll()
    .where('folder_uid', '=', folderUid)
    .where('user_uid', '=', userUid)
    .executeTakeFirst();
  return row ?? null;
}

export async function findUserRecordAccess(db: Kysely<Database>, userUid: string, recordUid: string): Promise<UserRecordAccess | null> {
  const record = await db.selectFrom('records').selectAll().where('uid', '=', recordUid).executeTakeFirst();
  if (!record) return null;
  const membership = record.folder_uid ? await folderMembership(db, userUid, record.folder_uid) : null;
  if (record.owner_uid === userUid) return { record, canEdit: true, isOwner: true, membership };
  if (!membership) return null;
  return { record, canEdit: membership.can_edit === 1, isOwner: false, membership };
}

export async function requireReadableRecord(db: Kysely<Database>, userUid: string, recordUid: string): Promise<UserRecordAccess> {
  const access = await findUserRecordAccess(db, userUid, recordUid);
  if (!access) throw new PosternError('not_allowed', `You do not have access to record ${recordUid}.`, { recordUid });
  return access;
}

export async function requireEditableRecord(db: Kysely<Database>, userUid: string, recordUid: string): Promise<UserRecordAccess> {
  const access = await requireReadableRecord(db, userUid, recordUid);
  if (!access.canEdit) throw new PosternError('not_allowed', `You can view record ${recordUid} but not edit it; ask the folder owner for "can edit".`, { recordUid });
  return access;
}

/** UIDs of every folder the user is a member of (own folders included). */
export async function memberFolderUids(db: Kysely<Database>, userUid: string): Promise<string[]> {
  const rows = await db.selectFrom('folder_members').select('folder_uid').where('user_uid', '=', userUid).execute();
  return rows.map((r) => r.folder_uid);
}
