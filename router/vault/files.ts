import { PosternError } from '../../core/errors.ts';
import { requireEditableRecord, requireReadableRecord } from '../access/records.ts';
import { requireUser } from './context.ts';
import { base64UrlByteLength, toFileEntry } from './entries.ts';
import type { VaultHandlers } from './handler.ts';

export const fileHandlers: VaultHandlers<'file.upload' | 'file.download'> = {
  async 'file.upload'(ctx, input) {
    const user = requireUser(ctx);
    const access = await requireEditableRecord(ctx.db, user.uid, input.recordUid);
    if (input.kind === 'script' && !access.isOwner) {
      throw new PosternError('not_allowed', 'Only the record owner can attach post-rotation scripts.', { recordUid: input.recordUid });
    }
    const exists = await ctx.db.selectFrom('files').select('uid').where('uid', '=', input.fileUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `File UID ${input.fileUid} is already in use.`);
    const size = base64UrlByteLength(input.content);
    await ctx.db
      .insertInto('files')
      .values({
        uid: input.fileUid,
        record_uid: input.recordUid,
        kind: input.kind,
        file_key: input.fileKey,
        metadata: input.metadata,
        content: input.content,
        size,
        uploaded_by: user.uid,
        created_at: ctx.now,
      })
      .execute();
    await ctx.audit({ action: 'file.upload', outcome: 'ok', recordUid: input.recordUid, detail: { fileUid: input.fileUid, kind: input.kind, size } });
    return {};
  },

  async 'file.download'(ctx, { fileUid }) {
    const user = requireUser(ctx);
    const file = await ctx.db.selectFrom('files').selectAll().where('uid', '=', fileUid).executeTakeFirst();
    if (!file) throw new PosternError('not_allowed', `You do not have access to file ${fileUid}.`, { fileUid });
    await requireReadableRecord(ctx.db, user.uid, file.record_uid);
    await ctx.audit({ action: 'file.download', outcome: 'ok', recordUid: file.record_uid, detail: { fileUid } });
    return { ...toFileEntry(file), content: file.content };
  },
};
