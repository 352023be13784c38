/**
 * Record content changes. An update names the revision it was made from; the write is a
 * single conditional UPDATE, so a stale revision changes nothing and is refused, on every
 * backend, without relying on transactions (D1 has none).
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { Database } from '../../core/storage/schema.ts';

export async function assertNoPendingTransaction(db: Kysely<Database>, recordUid: string): Promise<void> {
  const pending = await db.selectFrom('record_transactions').select('kind').where('record_uid', '=', recordUid).executeTakeFirst();
  if (pending) {
    throw new PosternError(
      'bad_state',
      `A ${pending.kind} of record ${recordUid} is in progress; the record cannot change until it is finalized or rolled back.`,
      { recordUid },
    );
  }
}

export async function writeRevision(
  db: Kysely<Database>,
  change: { recordUid: string; expectedRevision: number; data: string; actor: string; now: number },
): Promise<number> {
  await assertNoPendingTransaction(db, change.recordUid);
  const result = await db
    .updateTable('records')
    .set((eb) => ({ data: change.data, revision: eb('revision', '+', 1), updated_at: change.now }))
    .where('uid', '=', change.recordUid)
    .where('revision', '=', change.expectedRevision)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) {
    const current = await db.selectFrom('records').select('revision').where('uid', '=', change.recordUid).executeTakeFirst();
    throw new PosternError(
      'conflict',
      `Record ${change.recordUid} changed since you read it (you edited revision ${change.expectedRevision}, the vault has ${current?.revision ?? 'none'}). Nothing was overwritten; read it again and retry.`,
      { recordUid: change.recordUid, expectedRevision: change.expectedRevision, currentRevision: current ? Number(current.revision) : null },
    );
  }
  const revision = change.expectedRevision + 1;
  await db
    .insertInto('record_revisions')
    .values({ record_uid: change.recordUid, revision, data: change.data, actor: change.actor, created_at: change.now })
    .execute();
  return revision;
}

export interface NewRecord {
  recordUid: string;
  ownerUid: string;
  type: string;
  folderUid: string | null;
  recordKey: string;
  data: string;
  actor: string;
  now: number;
}

/** Inserts revision 1 of a record; its key is wrapped by the folder key when in a folder. */
export async function createRecord(db: Kysely<Database>, record: NewRecord): Promise<number> {
  await db
    .insertInto('records')
    .values({
      uid: record.recordUid,
      owner_uid: record.ownerUid,
      type: record.type,
      folder_uid: record.folderUid,
      key_type: record.folderUid ? 'folder_key' : 'data_key',
      record_key: record.recordKey,
      revision: 1,
      data: record.data,
      created_at: record.now,
      updated_at: record.now,
    })
    .execute();
  await db
    .insertInto('record_revisions')
    .values({ record_uid: record.recordUid, revision: 1, data: record.data, actor: record.actor, created_at: record.now })
    .execute();
  return 1;
}

export async function deleteRecordCascade(db: Kysely<Database>, recordUid: string): Promise<void> {
  await db
    .deleteFrom('record_links')
    .where((eb) => eb.or([eb('parent_uid', '=', recordUid), eb('child_uid', '=', recordUid)]))
    .execute();
  await db.deleteFrom('files').where('record_uid', '=', recordUid).execute();
  await db.deleteFrom('record_transactions').where('record_uid', '=', recordUid).execute();
  await db.deleteFrom('record_revisions').where('record_uid', '=', recordUid).execute();
  await db.deleteFrom('records').where('uid', '=', recordUid).execute();
}
