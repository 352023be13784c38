/** What an application's devices may reach: records in the shared folders given to the app. */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { RecordRow } from '../access/records.ts';

export async function appFolders(db: Kysely<Database>, appUid: string) {
  return db
    .selectFrom('application_folders')
    .innerJoin('folders', 'folders.uid', 'application_folders.folder_uid')
    .select(['application_folders.folder_uid', 'application_folders.wrapped_folder_key', 'application_folders.can_edit', 'folders.encrypted_name'])
    .where('application_folders.app_uid', '=', appUid)
    .orderBy('application_folders.added_at')
    .execute();
}

export async function requireAppRecord(db: Kysely<Database>, appUid: string, recordUid: string, needEdit: boolean): Promise<RecordRow> {
  const record = await db.selectFrom('records').selectAll().where('uid', '=', recordUid).executeTakeFirst();
  const grant = record?.folder_uid
    ? await db.selectFrom('application_folders').select('can_edit').where('app_uid', '=', appUid).where('folder_uid', '=', record.folder_uid).executeTakeFirst()
    : undefined;
  if (!record || !grant) throw new PosternError('not_allowed', `Record ${recordUid} is not shared to this application.`, { recordUid });
  if (needEdit && grant.can_edit !== 1) throw new PosternError('not_allowed', `This application has read-only access to record ${recordUid}.`, { recordUid });
  return record;
}

export async function requireAppFolder(db: Kysely<Database>, appUid: string, folderUid: string, needEdit: boolean) {
  const grant = await db.selectFrom('application_folders').selectAll().where('app_uid', '=', appUid).where('folder_uid', '=', folderUid).executeTakeFirst();
  if (!grant) throw new PosternError('not_allowed', `Folder ${folderUid} is not shared to this application.`, { folderUid });
  if (needEdit && grant.can_edit !== 1) throw new PosternError('not_allowed', `This application has read-only access to folder ${folderUid}.`, { folderUid });
  return grant;
}
