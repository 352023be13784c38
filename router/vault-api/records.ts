import { PosternError } from '../../core/errors.ts';
import { isRecordType } from '../../core/records/record-types.ts';
import { folderMembership, requireEditableRecord, requireReadableRecord } from '../access/records.ts';
import { requireUser } from './context.ts';
import { loadRecordExtras, toRecordEntry } from './entries.ts';
import type { VaultHandlers } from './handler.ts';
import { createRecord, deleteRecordCascade, writeRevision } from '../records/revisions.ts';

/** Resource types that a PAM User may be linked to as their administrative credential. */
const LINKABLE_RESOURCES = new Set(['pamMachine', 'pamDatabase', 'pamDirectory', 'pamRemoteBrowser']);

export function assertKnownRecordType(type: string): void {
  if (!isRecordType(type)) {
    throw new PosternError(
      'unknown_record_type',
      `Unknown record type "${type}". Known types: login, pamMachine, pamDatabase, pamDirectory, pamRemoteBrowser, pamUser, pamConfiguration.`,
    );
  }
}

export const recordHandlers: VaultHandlers<'record.add' | 'record.update' | 'record.get' | 'record.delete' | 'record.link'> = {
  async 'record.add'(ctx, input) {
    const user = requireUser(ctx);
    assertKnownRecordType(input.type);
    const exists = await ctx.db.selectFrom('records').select('uid').where('uid', '=', input.recordUid).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `Record UID ${input.recordUid} is already in use.`);
    if (input.folderUid) {
      const membership = await folderMembership(ctx.db, user.uid, input.folderUid);
      if (membership?.can_edit !== 1) {
        throw new PosternError('not_allowed', `You cannot add records to folder ${input.folderUid}.`, { folderUid: input.folderUid });
      }
    }
    await createRecord(ctx.db, {
      recordUid: input.recordUid,
      ownerUid: user.uid,
      type: input.type,
      folderUid: input.folderUid ?? null,
      recordKey: input.recordKey,
      data: input.data,
      actor: user.uid,
      now: ctx.now,
    });
    await ctx.audit({ action: 'record.add', outcome: 'ok', recordUid: input.recordUid, detail: { type: input.type, folderUid: input.folderUid ?? null } });
    return { revision: 1 };
  },

  async 'record.update'(ctx, input) {
    const user = requireUser(ctx);
    await requireEditableRecord(ctx.db, user.uid, input.recordUid);
    const revision = await writeRevision(ctx.db, {
      recordUid: input.recordUid,
      expectedRevision: input.revision,
      data: input.data,
      actor: user.uid,
      now: ctx.now,
    });
    await ctx.audit({ action: 'record.update', outcome: 'ok', recordUid: input.recordUid, detail: { revision } });
    return { revision };
  },

  async 'record.get'(ctx, { recordUid }) {
    const user = requireUser(ctx);
    const access = await requireReadableRecord(ctx.db, user.uid, recordUid);
    const extras = await loadRecordExtras(ctx.db, [recordUid]);
    await ctx.audit({ action: 'record.get', outcome: 'ok', recordUid });
    const entry = toRecordEntry(access.record, access.canEdit, extras);
    return access.membership && entry.keyType === 'folder_key'
      ? { ...entry, folderKey: { keyType: access.membership.key_type, wrappedKey: access.membership.wrapped_key } }
      : entry;
  },

  async 'record.delete'(ctx, { recordUid }) {
    const user = requireUser(ctx);
    await requireEditableRecord(ctx.db, user.uid, recordUid);
    await deleteRecordCascade(ctx.db, recordUid);
    await ctx.audit({ action: 'record.delete', outcome: 'ok', recordUid });
    return {};
  },

  async 'record.link'(ctx, { parentUid, childUid, kind }) {
    const user = requireUser(ctx);
    const parent = await requireEditableRecord(ctx.db, user.uid, parentUid);
    const child = await requireReadableRecord(ctx.db, user.uid, childUid);
    if (parentUid === childUid) throw new PosternError('bad_request', 'A record cannot be linked to itself.');
    if (kind === 'admin_credential') {
      if (!LINKABLE_RESOURCES.has(parent.record.type)) {
        throw new PosternError(
          'bad_request',
          `An administrative credential can be linked to a PAM resource (machine, database, directory, remote browser), not to a ${parent.record.type} record.`,
        );
      }
      if (child.record.type !== 'pamUser') {
        throw new PosternError('bad_request', `The linked credential must be a pamUser record, not ${child.record.type}.`);
      }
    }
    await ctx.db.deleteFrom('record_links').where('parent_uid', '=', parentUid).where('child_uid', '=', childUid).execute();
    // A resource has one admin credential: a new one replaces the old (rotations use exactly it).
    if (kind === 'admin_credential')
      await ctx.db.deleteFrom('record_links').where('parent_uid', '=', parentUid).where('kind', '=', 'admin_credential').execute();
    await ctx.db.insertInto('record_links').values({ parent_uid: parentUid, child_uid: childUid, kind, created_by: user.uid, created_at: ctx.now }).execute();
    await ctx.audit({ action: 'record.link', outcome: 'ok', recordUid: parentUid, detail: { childUid, kind } });
    return {};
  },
};
