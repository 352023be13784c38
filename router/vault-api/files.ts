import type { Kysely, Selectable } from 'kysely';
import type { RouterSubkeys } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { fileContentDigest, signScriptApproval, type ScriptApproval } from '../../core/protocol/script-approval.ts';
import type { Database, FilesTable } from '../../core/storage/schema.ts';
import { requireEditableRecord, requireReadableRecord } from '../access/records.ts';
import { requirePolicy } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import { base64UrlByteLength, toFileEntry } from './entries.ts';
import type { VaultHandlers } from './handler.ts';

/**
 * A post-rotation script is code that gateways run beside every secret of their application, so
 * attaching one, or approving one attached earlier, takes the `manage_rotation_scripts` policy
 * (an administrator's), not merely edit rights on the record. The approval is signed with the
 * Router's signing key over the stored ciphertext (core/protocol/script-approval.ts); gateways run
 * nothing else.
 */
async function approveScript(
  db: Kysely<Database>,
  subkeys: RouterSubkeys,
  file: Pick<Selectable<FilesTable>, 'uid' | 'record_uid' | 'file_key' | 'metadata' | 'content'>,
  approver: string,
  now: number,
): Promise<ScriptApproval> {
  const approval = await signScriptApproval(
    subkeys.signing.privateKey,
    {
      fileUid: file.uid,
      recordUid: file.record_uid,
      contentDigest: fileContentDigest({ fileKey: file.file_key, metadata: file.metadata, content: file.content }),
    },
    { approvedBy: approver, approvedAt: now },
  );
  await db
    .updateTable('files')
    .set({ approved_by: approval.approvedBy, approved_at: approval.approvedAt, approval_signature: approval.signature })
    .where('uid', '=', file.uid)
    .execute();
  return approval;
}

export const fileHandlers: VaultHandlers<'file.upload' | 'file.download' | 'file.script.approve'> = {
  async 'file.upload'(ctx, input) {
    const user = requireUser(ctx);
    await requireEditableRecord(ctx.db, user.uid, input.recordUid);
    if (input.kind === 'script') await requirePolicy(ctx.db, user.uid, 'manage_rotation_scripts');
    const exists = await ctx.db.selectFrom('files').select('uid').where('uid', '=', input.fileUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `File UID ${input.fileUid} is already in use.`);
    const size = base64UrlByteLength(input.content);
    const row = {
      uid: input.fileUid,
      record_uid: input.recordUid,
      kind: input.kind,
      file_key: input.fileKey,
      metadata: input.metadata,
      content: input.content,
      size,
      uploaded_by: user.uid,
      created_at: ctx.now,
    };
    await ctx.db.insertInto('files').values(row).execute();
    // Attaching a script is approving it: only a holder of the policy got this far.
    const approved = input.kind === 'script' ? await approveScript(ctx.db, ctx.subkeys, row, user.uid, ctx.now) : null;
    await ctx.audit({
      action: 'file.upload',
      outcome: 'ok',
      recordUid: input.recordUid,
      detail: { fileUid: input.fileUid, kind: input.kind, size, ...(approved ? { approved: true } : {}) },
    });
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

  async 'file.script.approve'(ctx, { fileUid }) {
    const user = requireUser(ctx);
    const file = await ctx.db.selectFrom('files').selectAll().where('uid', '=', fileUid).executeTakeFirst();
    if (!file) throw new PosternError('not_allowed', `You do not have access to file ${fileUid}.`, { fileUid });
    // The approver must be able to read the script they vouch for, and hold the policy.
    await requireReadableRecord(ctx.db, user.uid, file.record_uid);
    await requirePolicy(ctx.db, user.uid, 'manage_rotation_scripts');
    if (file.kind !== 'script')
      throw new PosternError('bad_request', `File ${fileUid} is an attachment, not a post-rotation script; there is nothing to approve.`, { fileUid });
    const approval = await approveScript(ctx.db, ctx.subkeys, file, user.uid, ctx.now);
    await ctx.audit({ action: 'file.script.approve', outcome: 'ok', recordUid: file.record_uid, detail: { fileUid } });
    return { approval };
  },
};
