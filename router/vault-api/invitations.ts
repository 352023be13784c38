/**
 * Invitations: how an account is created on a Router without open registration. An
 * administrator's client makes a one-time code and sends its hash with the invited email
 * (`postern invite add`); the invited user redeems it at `account.register`. Only the hash is
 * stored, so a database-only attacker can read who is invited but cannot register in their place.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import { invitationCodeHash } from '../../core/protocol/invitation-code.ts';
import type { Database } from '../../core/storage/schema.ts';
import { requireAdmin } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

/** One answer for every unusable code, so that it says nothing about the email or the code. */
export const INVITATION_REQUIRED =
  'Registration on this server needs a valid invitation for this email, and none was given or the one given is not valid ' +
  '(mistyped, expired, already used, withdrawn, or made for another address). Ask a Postern administrator of this server ' +
  'for a new one (`postern invite add EMAIL`), then run `postern register --email EMAIL --invite CODE`.';

/**
 * Finds the unused, unexpired invitation for `email` with this code, or refuses with one message
 * whatever the reason (no code, bad code, other email, expired, used).
 */
export async function findUsableInvitation(db: Kysely<Database>, email: string, code: string | undefined, now: number): Promise<{ uid: string }> {
  let codeHash: string | null = null;
  try {
    codeHash = code === undefined ? null : invitationCodeHash(code);
  } catch {
    // a malformed code is refused like any other unusable one
  }
  const row = codeHash
    ? await db.selectFrom('invitations').select(['uid', 'email', 'expires_at', 'used_at']).where('code_hash', '=', codeHash).executeTakeFirst()
    : undefined;
  if (!row || row.email !== email || row.used_at !== null || Number(row.expires_at) <= now) throw new PosternError('not_allowed', INVITATION_REQUIRED);
  return { uid: row.uid };
}

/** Stamps the invitation used; false when another registration redeemed it first. */
export async function redeemInvitation(db: Kysely<Database>, invitationUid: string, userUid: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('invitations')
    .set({ used_at: now, used_by: userUid })
    .where('uid', '=', invitationUid)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export const invitationHandlers: VaultHandlers<'invite.add' | 'invite.list' | 'invite.remove'> = {
  async 'invite.add'(ctx, { email, codeHash, expiresInMinutes }) {
    const admin = requireUser(ctx);
    await requireAdmin(ctx.db, admin.uid, 'manage invitations');
    const existing = await ctx.db.selectFrom('users').select('uid').where('email', '=', email).executeTakeFirst();
    if (existing) throw new PosternError('conflict', `${email} already has a Postern account on this server; an invitation would not be usable.`);
    // One live invitation per email: a new one replaces a code that may have been lost or leaked.
    await ctx.db.deleteFrom('invitations').where('email', '=', email).where('used_at', 'is', null).execute();
    const invitationUid = newUid();
    const expiresAt = ctx.now + expiresInMinutes * 60_000;
    await ctx.db
      .insertInto('invitations')
      .values({ uid: invitationUid, code_hash: codeHash, email, created_by: admin.uid, created_at: ctx.now, expires_at: expiresAt })
      .execute();
    await ctx.audit({ action: 'invite.add', outcome: 'ok', detail: { invitationUid, email, expiresAt } });
    return { invitationUid, email, expiresAt };
  },

  async 'invite.list'(ctx) {
    await requireAdmin(ctx.db, requireUser(ctx).uid, 'manage invitations');
    const rows = await ctx.db
      .selectFrom('invitations')
      .leftJoin('users', 'users.uid', 'invitations.created_by')
      .select([
        'invitations.uid',
        'invitations.email',
        'invitations.created_at',
        'invitations.expires_at',
        'invitations.used_at',
        'users.email as created_by_email',
      ])
      .orderBy('invitations.created_at', 'desc')
      .limit(1000)
      .execute();
    return {
      invitations: rows.map((r) => ({
        invitationUid: r.uid,
        email: r.email,
        createdBy: r.created_by_email ?? 'a removed account',
        createdAt: Number(r.created_at),
        expiresAt: Number(r.expires_at),
        usedAt: r.used_at === null ? null : Number(r.used_at),
      })),
    };
  },

  async 'invite.remove'(ctx, { invitationUid, email }) {
    await requireAdmin(ctx.db, requireUser(ctx).uid, 'manage invitations');
    let query = ctx.db.deleteFrom('invitations').where('used_at', 'is', null);
    query = invitationUid !== undefined ? query.where('uid', '=', invitationUid) : query.where('email', '=', email!);
    const removed = Number((await query.executeTakeFirst()).numDeletedRows);
    if (removed === 0)
      throw new PosternError(
        'not_found',
        `No pending invitation ${invitationUid ?? `for ${email}`}; see \`postern invite list\` (used invitations stay listed and cannot be withdrawn).`,
      );
    await ctx.audit({ action: 'invite.remove', outcome: 'ok', detail: { invitationUid: invitationUid ?? null, email: email ?? null, removed } });
    return { removed };
  },
};
