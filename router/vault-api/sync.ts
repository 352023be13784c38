import type { FolderEntry } from '../../core/protocol/vault-api.ts';
import { requireUser } from './context.ts';
import { loadRecordExtras, toRecordEntry } from './entries.ts';
import type { VaultHandlers } from './handler.ts';

/** Everything the caller can see, as ciphertext; the client decrypts and builds its view. */
export const syncHandlers: VaultHandlers<'vault.sync'> = {
  async 'vault.sync'(ctx) {
    const user = requireUser(ctx);
    const memberships = await ctx.db
      .selectFrom('folder_members')
      .innerJoin('folders', 'folders.uid', 'folder_members.folder_uid')
      .select([
        'folders.uid',
        'folders.parent_uid',
        'folders.owner_uid',
        'folders.shared',
        'folders.encrypted_name',
        'folder_members.key_type',
        'folder_members.wrapped_key',
        'folder_members.can_edit',
        'folder_members.can_share',
        'folder_members.is_owner',
      ])
      .where('folder_members.user_uid', '=', user.uid)
      .execute();
    const folderUids = memberships.map((m) => m.uid);
    const sharedUids = memberships.filter((m) => m.shared === 1).map((m) => m.uid);
    const members = sharedUids.length
      ? await ctx.db
          .selectFrom('folder_members')
          .innerJoin('users', 'users.uid', 'folder_members.user_uid')
          .select([
            'folder_members.folder_uid',
            'folder_members.user_uid',
            'users.email',
            'folder_members.can_edit',
            'folder_members.can_share',
            'folder_members.is_owner',
          ])
          .where('folder_members.folder_uid', 'in', sharedUids)
          .execute()
      : [];
    const folders: FolderEntry[] = memberships.map((m) => ({
      folderUid: m.uid,
      parentUid: m.parent_uid,
      ownerUid: m.owner_uid,
      shared: m.shared === 1,
      encryptedName: m.encrypted_name,
      keyType: m.key_type,
      folderKey: m.wrapped_key,
      canEdit: m.can_edit === 1,
      canShare: m.can_share === 1,
      isOwner: m.is_owner === 1,
      ...(m.shared === 1
        ? {
            members: members
              .filter((x) => x.folder_uid === m.uid)
              .map((x) => ({ userUid: x.user_uid, email: x.email, canEdit: x.can_edit === 1, canShare: x.can_share === 1, isOwner: x.is_owner === 1 })),
          }
        : {}),
    }));
    const canEditFolder = new Map(memberships.map((m) => [m.uid, m.can_edit === 1]));

    const records = await ctx.db
      .selectFrom('records')
      .selectAll()
      .where((eb) => (folderUids.length ? eb.or([eb('owner_uid', '=', user.uid), eb('folder_uid', 'in', folderUids)]) : eb('owner_uid', '=', user.uid)))
      .orderBy('created_at')
      .execute();
    const extras = await loadRecordExtras(
      ctx.db,
      records.map((r) => r.uid),
    );

    const apps = await ctx.db.selectFrom('applications').selectAll().where('owner_uid', '=', user.uid).orderBy('created_at').execute();
    const appFolders = apps.length
      ? await ctx.db
          .selectFrom('application_folders')
          .selectAll()
          .where(
            'app_uid',
            'in',
            apps.map((a) => a.uid),
          )
          .execute()
      : [];

    return {
      folders,
      records: records.map((r) => toRecordEntry(r, r.owner_uid === user.uid || (r.folder_uid !== null && canEditFolder.get(r.folder_uid) === true), extras)),
      applications: apps.map((a) => ({
        appUid: a.uid,
        appKey: a.app_key,
        data: a.data,
        createdAt: Number(a.created_at),
        folders: appFolders.filter((f) => f.app_uid === a.uid).map((f) => ({ folderUid: f.folder_uid, canEdit: f.can_edit === 1 })),
      })),
    };
  },
};
