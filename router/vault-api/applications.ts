import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { Database } from '../../core/storage/schema.ts';
import { folderMembership } from '../access/records.ts';
import { requirePolicy } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

async function requireOwnApplication(db: Kysely<Database>, userUid: string, appUid: string) {
  const app = await db.selectFrom('applications').selectAll().where('uid', '=', appUid).executeTakeFirst();
  if (!app || app.owner_uid !== userUid) throw new PosternError('not_allowed', `You do not own application ${appUid}.`, { appUid });
  return app;
}

export const applicationHandlers: VaultHandlers<'app.create' | 'app.share' | 'app.client.add' | 'app.client.list' | 'app.client.remove'> = {
  async 'app.create'(ctx, input) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'manage_applications');
    const exists = await ctx.db.selectFrom('applications').select('uid').where('uid', '=', input.appUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `Application UID ${input.appUid} is already in use.`);
    await ctx.db
      .insertInto('applications')
      .values({ uid: input.appUid, owner_uid: user.uid, app_key: input.appKey, data: input.data, created_at: ctx.now })
      .execute();
    await ctx.audit({ action: 'app.create', outcome: 'ok', detail: { appUid: input.appUid } });
    return {};
  },

  async 'app.share'(ctx, input) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'manage_applications');
    await requireOwnApplication(ctx.db, user.uid, input.appUid);
    const membership = await folderMembership(ctx.db, user.uid, input.folderUid);
    if (membership?.can_share !== 1) {
      throw new PosternError('not_allowed', `You cannot share folder ${input.folderUid}; it needs the "can share" permission.`, { folderUid: input.folderUid });
    }
    if (input.canEdit && membership.can_edit !== 1)
      throw new PosternError('not_allowed', 'You cannot give an application "can edit" on a folder you cannot edit.');
    const folder = await ctx.db.selectFrom('folders').select('shared').where('uid', '=', input.folderUid).executeTakeFirstOrThrow();
    if (folder.shared !== 1)
      throw new PosternError('bad_state', 'Only shared folders can be shared to an application. Create one with `postern folder add NAME --shared`.');
    await ctx.db.deleteFrom('application_folders').where('app_uid', '=', input.appUid).where('folder_uid', '=', input.folderUid).execute();
    await ctx.db
      .insertInto('application_folders')
      .values({
        app_uid: input.appUid,
        folder_uid: input.folderUid,
        wrapped_folder_key: input.wrappedFolderKey,
        can_edit: input.canEdit ? 1 : 0,
        added_at: ctx.now,
      })
      .execute();
    await ctx.audit({ action: 'app.share', outcome: 'ok', detail: { appUid: input.appUid, folderUid: input.folderUid, canEdit: input.canEdit } });
    return {};
  },

  async 'app.client.add'(ctx, input) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'manage_applications');
    await requireOwnApplication(ctx.db, user.uid, input.appUid);
    if (input.kind === 'gateway') await requirePolicy(ctx.db, user.uid, 'manage_gateways');
    const devices: { deviceUid: string; name: string; firstAccessExpiresAt: number }[] = [];
    for (const client of input.clients) {
      const clash = await ctx.db.selectFrom('devices').select('uid').where('client_id_hash', '=', client.clientIdHash).executeTakeFirst();
      if (clash) throw new PosternError('conflict', 'A device with this client id already exists; generate a new token.');
      const deviceUid = newUid();
      const firstAccessExpiresAt = ctx.now + client.firstAccessExpiresInMinutes * 60_000;
      await ctx.db
        .insertInto('devices')
        .values({
          uid: deviceUid,
          app_uid: input.appUid,
          client_id_hash: client.clientIdHash,
          name: client.name,
          wrapped_app_key: client.wrappedAppKey,
          public_key: null,
          ip_lock: client.ipLock ? 1 : 0,
          locked_ip: null,
          created_at: ctx.now,
          first_access_expires_at: firstAccessExpiresAt,
          access_expires_at: client.accessExpiresInMinutes ? ctx.now + client.accessExpiresInMinutes * 60_000 : null,
          registered_at: null,
          last_seen_at: null,
          revoked_at: null,
          kind: input.kind,
        })
        .execute();
      devices.push({ deviceUid, name: client.name, firstAccessExpiresAt });
      await ctx.audit({
        action: input.kind === 'gateway' ? 'gateway.create' : 'app.client.add',
        outcome: 'ok',
        detail: { appUid: input.appUid, deviceUid, ipLock: client.ipLock },
      });
    }
    return { devices };
  },

  async 'app.client.list'(ctx, { appUid }) {
    const user = requireUser(ctx);
    await requireOwnApplication(ctx.db, user.uid, appUid);
    const rows = await ctx.db.selectFrom('devices').selectAll().where('app_uid', '=', appUid).orderBy('created_at').execute();
    const n = (v: number | string | null) => (v === null ? null : Number(v));
    return {
      devices: rows.map((d) => ({
        deviceUid: d.uid,
        kind: d.kind,
        name: d.name,
        createdAt: Number(d.created_at),
        firstAccessExpiresAt: Number(d.first_access_expires_at),
        accessExpiresAt: n(d.access_expires_at),
        registeredAt: n(d.registered_at),
        lastSeenAt: n(d.last_seen_at),
        ipLock: d.ip_lock === 1,
        lockedIp: d.locked_ip,
        revokedAt: n(d.revoked_at),
      })),
    };
  },

  async 'app.client.remove'(ctx, { appUid, deviceUid }) {
    const user = requireUser(ctx);
    await requireOwnApplication(ctx.db, user.uid, appUid);
    const result = await ctx.db
      .updateTable('devices')
      .set({ revoked_at: ctx.now })
      .where('uid', '=', deviceUid)
      .where('app_uid', '=', appUid)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new PosternError('not_found', `Application ${appUid} has no device ${deviceUid}.`);
    await ctx.audit({ action: 'app.client.remove', outcome: 'ok', detail: { appUid, deviceUid } });
    return {};
  },
};
