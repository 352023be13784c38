/** What an application's devices may reach: records in the shared folders given to the app. */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { RecordRow } from '../access/records.ts';
import { addExtras, FILE_COLUMNS, loadRecordExtras, type RecordExtras } from '../vault-api/entries.ts';

// What a device reads on most requests is prepared (core/storage/prepared.ts): the app's folders,
// and its records with their pending changes, files and links, each by one join on the app.
const foldersOfApp = prepareQuery<Database, { appUid: string }>()((db, $) =>
  db
    .selectFrom('application_folders')
    .innerJoin('folders', 'folders.uid', 'application_folders.folder_uid')
    .select(['application_folders.folder_uid', 'application_folders.wrapped_folder_key', 'application_folders.can_edit', 'folders.encrypted_name'])
    .where('application_folders.app_uid', '=', $.appUid)
    .orderBy('application_folders.added_at'),
);
const recordsOfApp = prepareQuery<Database, { appUid: string }>()((db, $) =>
  db
    .selectFrom('records')
    .innerJoin('application_folders as af', 'af.folder_uid', 'records.folder_uid')
    .selectAll('records')
    .where('af.app_uid', '=', $.appUid)
    .orderBy('records.created_at'),
);
const recordOfApp = prepareQuery<Database, { appUid: string; recordUid: string }>()((db, $) =>
  db
    .selectFrom('records')
    .innerJoin('application_folders as af', 'af.folder_uid', 'records.folder_uid')
    .selectAll('records')
    .where('af.app_uid', '=', $.appUid)
    .where('records.uid', '=', $.recordUid),
);
const pendingOfRecord = prepareQuery<Database, { recordUid: string }>()((db, $) =>
  db.selectFrom('record_transactions').selectAll().where('record_uid', '=', $.recordUid),
);
const pendingOfApp = prepareQuery<Database, { appUid: string }>()((db, $) =>
  db
    .selectFrom('record_transactions')
    .innerJoin('records', 'records.uid', 'record_transactions.record_uid')
    .innerJoin('application_folders as af', 'af.folder_uid', 'records.folder_uid')
    .selectAll('record_transactions')
    .where('af.app_uid', '=', $.appUid),
);
const filesOfApp = prepareQuery<Database, { appUid: string }>()((db, $) =>
  db
    .selectFrom('files')
    .innerJoin('records', 'records.uid', 'files.record_uid')
    .innerJoin('application_folders as af', 'af.folder_uid', 'records.folder_uid')
    .select(FILE_COLUMNS.map((column) => `files.${column}` as const))
    .where('af.app_uid', '=', $.appUid)
    .orderBy('files.created_at'),
);
const linksOfApp = prepareQuery<Database, { appUid: string }>()((db, $) =>
  db
    .selectFrom('record_links')
    .innerJoin('records', 'records.uid', 'record_links.parent_uid')
    .innerJoin('application_folders as af', 'af.folder_uid', 'records.folder_uid')
    .select(['record_links.parent_uid', 'record_links.child_uid', 'record_links.kind'])
    .where('af.app_uid', '=', $.appUid),
);

export function appFolders(db: Kysely<Database>, appUid: string) {
  return foldersOfApp.all(db, { appUid });
}

/** Up to this many records asked for by UID are read one by one; more, with the whole app. */
const RECORDS_READ_ONE_BY_ONE = 16;

/**
 * The records in the folders shared to the app, oldest first (all of them, or those of
 * `recordUids`: not_allowed names the first one the app cannot reach), with their pending
 * changes, files and links.
 */
export async function appRecords(db: Kysely<Database>, appUid: string, recordUids?: readonly string[]) {
  if (recordUids && recordUids.length <= RECORDS_READ_ONE_BY_ONE) {
    const records: RecordRow[] = [];
    for (const recordUid of new Set(recordUids)) {
      const record = await recordOfApp.first(db, { appUid, recordUid });
      if (!record) throw new PosternError('not_allowed', `Record ${recordUid} is not shared to this application.`, { recordUid });
      records.push(record);
    }
    records.sort((a, b) => Number(a.created_at) - Number(b.created_at));
    const uids = records.map((r) => r.uid);
    const pending = [];
    for (const recordUid of uids) pending.push(...(await pendingOfRecord.all(db, { recordUid })));
    return { records, pending, extras: await loadRecordExtras(db, uids) };
  }
  const values = { appUid };
  let records = await recordsOfApp.all(db, values);
  if (recordUids) {
    const wanted = new Set(recordUids);
    records = records.filter((r) => wanted.has(r.uid));
    const missing = recordUids.find((u) => !records.some((r) => r.uid === u));
    if (missing) throw new PosternError('not_allowed', `Record ${missing} is not shared to this application.`, { recordUid: missing });
  }
  const included = new Set(records.map((r) => r.uid));
  const extras: RecordExtras = { files: new Map(), links: new Map() };
  addExtras(extras, await filesOfApp.all(db, values), await linksOfApp.all(db, values), (uid) => included.has(uid));
  const pending = (await pendingOfApp.all(db, values)).filter((p) => included.has(p.record_uid));
  return { records, pending, extras };
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
