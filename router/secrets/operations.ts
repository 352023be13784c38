import { PosternError } from '../../core/errors.ts';
import type { DeviceRecord, SecretsInput, SecretsOperation, SecretsResponses } from '../../core/protocol/secrets-api.ts';
import { createRecord, deleteRecordCascade, writeRevision } from '../records/revisions.ts';
import { base64UrlByteLength, toFileEntry } from '../vault-api/entries.ts';
import { assertKnownRecordType } from '../vault-api/records.ts';
import { appFolders, appRecords, requireAppFolder, requireAppRecord } from './access.ts';
import type { DeviceCallContext } from './context.ts';

type Operation = Exclude<SecretsOperation, 'register'>;
type DeviceHandlers = { [O in Operation]: (ctx: DeviceCallContext, input: SecretsInput<O>) => Promise<SecretsResponses[O]> };

export const deviceHandlers: DeviceHandlers = {
  async get_secret(ctx, { recordUids }) {
    const folders = await appFolders(ctx.db, ctx.app.uid);
    const { records, pending, extras } = await appRecords(ctx.db, ctx.app.uid, recordUids);
    const uids = records.map((r) => r.uid);
    const pendingBy = new Map(pending.map((p) => [p.record_uid, p]));
    await ctx.audit({ action: 'secrets.get_secret', outcome: 'ok', recordUid: uids.length === 1 ? uids[0] : null, detail: { count: uids.length } });
    return {
      appUid: ctx.app.uid,
      folders: folders.map((f) => ({ folderUid: f.folder_uid, folderKey: f.wrapped_folder_key, canEdit: f.can_edit === 1, encryptedName: f.encrypted_name })),
      records: records.map((r): DeviceRecord => {
        const p = pendingBy.get(r.uid);
        return {
          recordUid: r.uid,
          folderUid: r.folder_uid as string,
          type: r.type,
          revision: Number(r.revision),
          recordKey: r.record_key,
          data: r.data,
          pending: p ? { data: p.data, baseRevision: Number(p.base_revision), createdAt: Number(p.created_at) } : null,
          files: (extras.files.get(r.uid) ?? []).map(({ recordUid: _r, ...f }) => f),
          links: extras.links.get(r.uid) ?? [],
        };
      }),
    };
  },

  async get_folders(ctx) {
    const folders = await appFolders(ctx.db, ctx.app.uid);
    await ctx.audit({ action: 'secrets.get_folders', outcome: 'ok' });
    return {
      folders: folders.map((f) => ({ folderUid: f.folder_uid, folderKey: f.wrapped_folder_key, canEdit: f.can_edit === 1, encryptedName: f.encrypted_name })),
    };
  },

  async create_secret(ctx, input) {
    await requireAppFolder(ctx.db, ctx.app.uid, input.folderUid, true);
    assertKnownRecordType(input.type);
    const exists = await ctx.db.selectFrom('records').select('uid').where('uid', '=', input.recordUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `Record UID ${input.recordUid} is already in use.`);
    await createRecord(ctx.db, {
      recordUid: input.recordUid,
      ownerUid: ctx.app.owner_uid,
      type: input.type,
      folderUid: input.folderUid,
      recordKey: input.recordKey,
      data: input.data,
      actor: ctx.device.uid,
      now: ctx.now,
    });
    await ctx.audit({ action: 'secrets.create_secret', outcome: 'ok', recordUid: input.recordUid, detail: { type: input.type } });
    return { revision: 1 };
  },

  async update_secret(ctx, input) {
    const record = await requireAppRecord(ctx.db, ctx.app.uid, input.recordUid, true);
    if (input.transactionType === 'general') {
      const revision = await writeRevision(ctx.db, {
        recordUid: input.recordUid,
        expectedRevision: input.revision,
        data: input.data,
        actor: ctx.device.uid,
        now: ctx.now,
      });
      await ctx.audit({ action: 'secrets.update_secret', outcome: 'ok', recordUid: input.recordUid, detail: { revision, transaction: 'general' } });
      return { revision, pending: false };
    }
    if (Number(record.revision) !== input.revision) {
      throw new PosternError('conflict', `Record ${input.recordUid} is at revision ${record.revision}, not ${input.revision}; nothing was stored.`, {
        recordUid: input.recordUid,
        currentRevision: Number(record.revision),
      });
    }
    const existing = await ctx.db.selectFrom('record_transactions').select('kind').where('record_uid', '=', input.recordUid).executeTakeFirst();
    if (existing)
      throw new PosternError('bad_state', `A rotation of record ${input.recordUid} is already pending; finalize or roll it back first.`, {
        recordUid: input.recordUid,
      });
    await ctx.db
      .insertInto('record_transactions')
      .values({ record_uid: input.recordUid, kind: 'rotation', base_revision: input.revision, data: input.data, actor: ctx.device.uid, created_at: ctx.now })
      .execute();
    await ctx.audit({ action: 'secrets.update_secret', outcome: 'ok', recordUid: input.recordUid, detail: { transaction: 'rotation', pending: true } });
    return { revision: input.revision, pending: true };
  },

  async finalize_secret_update(ctx, { recordUid, rollback }) {
    await requireAppRecord(ctx.db, ctx.app.uid, recordUid, true);
    const pending = await ctx.db.selectFrom('record_transactions').selectAll().where('record_uid', '=', recordUid).executeTakeFirst();
    if (!pending) throw new PosternError('bad_state', `Record ${recordUid} has no pending rotation to finalize or roll back.`, { recordUid });
    let revision = Number(pending.base_revision);
    if (!rollback) {
      const result = await ctx.db
        .updateTable('records')
        .set((eb) => ({ data: pending.data, revision: eb('revision', '+', 1), updated_at: ctx.now }))
        .where('uid', '=', recordUid)
        .where('revision', '=', revision)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw new PosternError('conflict', `Record ${recordUid} changed while its rotation was pending.`, { recordUid });
      revision += 1;
      await ctx.db
        .insertInto('record_revisions')
        .values({ record_uid: recordUid, revision, data: pending.data, actor: ctx.device.uid, created_at: ctx.now })
        .execute();
    }
    await ctx.db.deleteFrom('record_transactions').where('record_uid', '=', recordUid).execute();
    await ctx.audit({ action: 'secrets.finalize_secret_update', outcome: 'ok', recordUid, detail: { rollback, revision } });
    return { revision, rolledBack: rollback };
  },

  async delete_secret(ctx, { recordUids }) {
    const results: SecretsResponses['delete_secret']['results'] = [];
    for (const recordUid of recordUids) {
      try {
        await requireAppRecord(ctx.db, ctx.app.uid, recordUid, true);
      } catch (err) {
        if (err instanceof PosternError && err.code === 'not_allowed') {
          results.push({ recordUid, status: 'not_allowed' });
          await ctx.audit({ action: 'secrets.delete_secret', outcome: 'denied', recordUid });
          continue;
        }
        throw err;
      }
      await deleteRecordCascade(ctx.db, recordUid);
      results.push({ recordUid, status: 'deleted' });
      await ctx.audit({ action: 'secrets.delete_secret', outcome: 'ok', recordUid });
    }
    return { results };
  },

  async add_file(ctx, input) {
    await requireAppRecord(ctx.db, ctx.app.uid, input.recordUid, true);
    const exists = await ctx.db.selectFrom('files').select('uid').where('uid', '=', input.fileUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `File UID ${input.fileUid} is already in use.`);
    const size = base64UrlByteLength(input.content);
    // Devices add plain attachments only: post-rotation scripts are for the record owner to add.
    await ctx.db
      .insertInto('files')
      .values({
        uid: input.fileUid,
        record_uid: input.recordUid,
        kind: 'attachment',
        file_key: input.fileKey,
        metadata: input.metadata,
        content: input.content,
        size,
        uploaded_by: ctx.device.uid,
        created_at: ctx.now,
      })
      .execute();
    await ctx.audit({ action: 'secrets.add_file', outcome: 'ok', recordUid: input.recordUid, detail: { fileUid: input.fileUid, size } });
    return {};
  },

  async download_file(ctx, { fileUid }) {
    const file = await ctx.db.selectFrom('files').selectAll().where('uid', '=', fileUid).executeTakeFirst();
    if (!file) throw new PosternError('not_allowed', `File ${fileUid} is not shared to this application.`, { fileUid });
    await requireAppRecord(ctx.db, ctx.app.uid, file.record_uid, false);
    await ctx.audit({ action: 'secrets.download_file', outcome: 'ok', recordUid: file.record_uid, detail: { fileUid } });
    const { recordUid, ...entry } = toFileEntry(file);
    return { ...entry, recordUid, content: file.content };
  },
};
