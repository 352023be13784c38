/**
 * Who may see and change what. One place answers these questions so that every endpoint
 * refuses the same way: a record the caller cannot reach is `not_allowed`, whether or not
 * it exists, so UIDs cannot be probed.
 */
import type { Kysely, Selectable } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
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
  const row = await db.selectFrom('folder_members').selectAll().where('folder_uid', '=', folderUid).where('user_uid', '=', userUid).executeTakeFirst();
  return row ?? null;
}

/** One query on the path of every record read, prepared (core/storage/prepared.ts): the record and the caller's membership of its folder. */
const recordWithMembership = prepareQuery<Database, { userUid: string; recordUid: string }>()((db, $) =>
  db
    .selectFrom('records')
    .leftJoin('folder_members as m', (join) => join.onRef('m.folder_uid', '=', 'records.folder_uid').on('m.user_uid', '=', $.userUid))
    .selectAll('records')
    .select([
      'm.folder_uid as m_folder_uid',
      'm.key_type as m_key_type',
      'm.wrapped_key as m_wrapped_key',
      'm.can_edit as m_can_edit',
      'm.can_share as m_can_share',
      'm.is_owner as m_is_owner',
      'm.added_at as m_added_at',
    ])
    .where('records.uid', '=', $.recordUid),
);

export async function findUserRecordAccess(db: Kysely<Database>, userUid: string, recordUid: string): Promise<UserRecordAccess | null> {
  const row = await recordWithMembership.first(db, { userUid, recordUid });
  if (!row) return null;
  const { m_folder_uid, m_key_type, m_wrapped_key, m_can_edit, m_can_share, m_is_owner, m_added_at, ...record } = row;
  const membership: MemberRow | null =
    m_folder_uid !== null &&
    m_key_type !== null &&
    m_wrapped_key !== null &&
    m_can_edit !== null &&
    m_can_share !== null &&
    m_is_owner !== null &&
    m_added_at !== null
      ? {
          folder_uid: m_folder_uid,
          user_uid: userUid,
          key_type: m_key_type,
          wrapped_key: m_wrapped_key,
          can_edit: m_can_edit,
          can_share: m_can_share,
          is_owner: m_is_owner,
          added_at: m_added_at,
        }
      : null;
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
  if (!access.canEdit)
    throw new PosternError('not_allowed', `You can view record ${recordUid} but not edit it; ask the folder owner for "can edit".`, { recordUid });
  return access;
}
