import { PosternError } from '../../core/errors.ts';
import { folderMembership } from '../access/records.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

export const folderHandlers: VaultHandlers<'folder.add' | 'folder.share'> = {
  async 'folder.add'(ctx, input) {
    const user = requireUser(ctx);
    const exists = await ctx.db.selectFrom('folders').select('uid').where('uid', '=', input.folderUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `Folder UID ${input.folderUid} is already in use.`);
    if (input.parentUid) {
      const parent = await folderMembership(ctx.db, user.uid, input.parentUid);
      if (parent?.can_edit !== 1)
        throw new PosternError('not_allowed', `You cannot add folders inside folder ${input.parentUid}.`, { folderUid: input.parentUid });
    }
    await ctx.db
      .insertInto('folders')
      .values({
        uid: input.folderUid,
        owner_uid: user.uid,
        parent_uid: input.parentUid ?? null,
        shared: input.shared ? 1 : 0,
        encrypted_name: input.encryptedName,
        created_at: ctx.now,
      })
      .execute();
    await ctx.db
      .insertInto('folder_members')
      .values({
        folder_uid: input.folderUid,
        user_uid: user.uid,
        key_type: 'data_key',
        wrapped_key: input.folderKey,
        can_edit: 1,
        can_share: 1,
        is_owner: 1,
        added_at: ctx.now,
      })
      .execute();
    await ctx.audit({ action: 'folder.add', outcome: 'ok', detail: { folderUid: input.folderUid, shared: input.shared } });
    return {};
  },

  async 'folder.share'(ctx, input) {
    const user = requireUser(ctx);
    const membership = await folderMembership(ctx.db, user.uid, input.folderUid);
    if (membership?.can_share !== 1) {
      throw new PosternError('not_allowed', `You cannot share folder ${input.folderUid}; it needs the "can share" permission.`, { folderUid: input.folderUid });
    }
    if (input.canEdit && membership.can_edit !== 1) {
      throw new PosternError('not_allowed', 'You cannot grant "can edit" on a folder you cannot edit yourself.', { folderUid: input.folderUid });
    }
    const folder = await ctx.db.selectFrom('folders').select(['shared']).where('uid', '=', input.folderUid).executeTakeFirstOrThrow();
    if (folder.shared !== 1)
      throw new PosternError('bad_state', 'This is a private folder. Create a shared folder (`postern folder add NAME --shared`) to share records.');
    const recipient = await ctx.db.selectFrom('users').select('uid').where('uid', '=', input.userUid).executeTakeFirst();
    if (!recipient) throw new PosternError('not_found', `No user with UID ${input.userUid}.`);
    if (recipient.uid === user.uid) throw new PosternError('bad_request', 'You are already a member of this folder.');
    const existing = await folderMembership(ctx.db, input.userUid, input.folderUid);
    if (existing?.is_owner === 1) throw new PosternError('bad_request', 'The folder owner’s permissions cannot be changed.');
    if (existing) {
      // Changing someone's membership takes at least their rights (the owner has all): a can-share
      // member cannot demote an editor who also shares, nor anyone who holds a right they lack.
      const outranked = (existing.can_edit === 1 && membership.can_edit !== 1) || (existing.can_share === 1 && membership.can_share !== 1);
      if (membership.is_owner !== 1 && outranked) {
        throw new PosternError(
          'not_allowed',
          `You cannot change the membership of a member whose rights exceed yours in folder ${input.folderUid}; ask the folder owner.`,
          {
            folderUid: input.folderUid,
          },
        );
      }
      // Permissions only: the member's wrapped key stays the one they were given. The Router cannot
      // tell whether a new wrap holds the same folder key, so it never lets a re-share replace it.
      await ctx.db
        .updateTable('folder_members')
        .set({ can_edit: input.canEdit ? 1 : 0, can_share: input.canShare ? 1 : 0 })
        .where('folder_uid', '=', input.folderUid)
        .where('user_uid', '=', input.userUid)
        .execute();
    } else {
      await ctx.db
        .insertInto('folder_members')
        .values({
          folder_uid: input.folderUid,
          user_uid: input.userUid,
          key_type: 'ecies',
          wrapped_key: input.wrappedFolderKey,
          can_edit: input.canEdit ? 1 : 0,
          can_share: input.canShare ? 1 : 0,
          is_owner: 0,
          added_at: ctx.now,
        })
        .execute();
    }
    await ctx.audit({
      action: 'folder.share',
      outcome: 'ok',
      detail: {
        folderUid: input.folderUid,
        userUid: input.userUid,
        canEdit: input.canEdit,
        canShare: input.canShare,
        change: existing ? 'permissions' : 'added',
      },
    });
    return {};
  },
};
