import { equalBytes, fromBase64Url, hmacSha256, randomBytes, toBase64Url, utf8, verifierForAuthHash } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import { assertLoginAllowed, clearLoginFailures, noteLoginFailure } from '../account/login-throttle.ts';
import { createSession } from '../account/sessions.ts';
import { bootstrapAdministrator } from '../policy/policies.ts';
import { requireUser, type VaultCallContext } from './context.ts';
import { findUsableInvitation, INVITATION_REQUIRED, redeemInvitation } from './invitations.ts';
import type { VaultHandlers } from './handler.ts';

const INVALID_LOGIN = 'The email or master password is incorrect.';

/** The userUid answered for a registration over an existing account: stable per email, like a real one, and no user's. */
function plausibleUserUid(fakeSaltKey: Uint8Array, email: string): string {
  return toBase64Url(hmacSha256(fakeSaltKey, utf8(`register/${email}`)).slice(0, 16));
}

/** Someone tried to register an email that has an account: its holder and the administrators are told. */
async function auditRegisterOverExisting(ctx: VaultCallContext, email: string, ownerUid: string): Promise<void> {
  const admins = await ctx.db.selectFrom('users').select('uid').where('is_admin', '=', 1).execute();
  for (const owner of new Set([ownerUid, ...admins.map((a) => a.uid)])) {
    await ctx.audit({
      action: 'account.register',
      outcome: 'denied',
      actorKind: 'anonymous',
      actor: email,
      ownerUid: owner,
      detail: { reason: 'account_exists', email },
    });
  }
}

export const accountHandlers: VaultHandlers<
  'account.prelogin' | 'account.register' | 'account.login' | 'account.logout' | 'account.whoami' | 'session.store-key' | 'session.keys' | 'users.public-key'
> = {
  async 'account.prelogin'(ctx, { email }) {
    const user = await ctx.db.selectFrom('users').select('kdf').where('email', '=', email).executeTakeFirst();
    if (user) return { kdf: JSON.parse(user.kdf) };
    // Unknown accounts get stable, plausible parameters so prelogin does not reveal who is registered.
    const salt = toBase64Url(hmacSha256(ctx.subkeys.fakeSalt, utf8(`prelogin/${email}`)).slice(0, 16));
    return { kdf: { algorithm: 'pbkdf2-sha256', iterations: 600_000, salt } };
  },

  /**
   * The first account needs nothing (it becomes the administrator); later ones need an
   * invitation unless registration is open. Neither refusal nor success says whether the email
   * already has an account: docs/decisions/0004-accounts-and-client-trust.md.
   */
  async 'account.register'(ctx, input) {
    const anyone = await ctx.db.selectFrom('users').select('uid').limit(1).executeTakeFirst();
    let invitationUid: string | null = null;
    if (anyone && !ctx.openRegistration) {
      try {
        invitationUid = (await findUsableInvitation(ctx.db, input.email, input.invitation, ctx.now)).uid;
      } catch (err) {
        await ctx.audit({
          action: 'account.register',
          outcome: 'denied',
          actorKind: 'anonymous',
          actor: input.email,
          ownerUid: null,
          detail: { reason: 'invitation_required' },
        });
        throw err;
      }
    }
    const existing = await ctx.db.selectFrom('users').select('uid').where('email', '=', input.email).executeTakeFirst();
    const userUid = newUid();
    const authSalt = randomBytes(16);
    // Computed on every path so that an existing email costs the Router the same work as a new one.
    const verifier = verifierForAuthHash(fromBase64Url(input.authHash), authSalt);
    if (existing && invitationUid) {
      // Only a holder of a valid invitation for this very email learns it is taken.
      throw new PosternError(
        'conflict',
        `${input.email} already has an account on this server; the invitation was not used. Log in with that account, or ask the administrator.`,
      );
    }
    if (existing) {
      await auditRegisterOverExisting(ctx, input.email, existing.uid);
      return { userUid: plausibleUserUid(ctx.subkeys.fakeSalt, input.email) };
    }
    if (invitationUid && !(await redeemInvitation(ctx.db, invitationUid, userUid, ctx.now))) throw new PosternError('not_allowed', INVITATION_REQUIRED);
    await ctx.db
      .insertInto('users')
      .values({
        uid: userUid,
        email: input.email,
        kdf: JSON.stringify(input.kdf),
        auth_salt: toBase64Url(authSalt),
        auth_verifier: toBase64Url(verifier),
        encrypted_data_key: input.encryptedDataKey,
        public_key: input.publicKey,
        encrypted_private_key: input.encryptedPrivateKey,
        created_at: ctx.now,
      })
      .execute();
    const admin = await bootstrapAdministrator(ctx.db, userUid, ctx.now);
    await ctx.audit({
      action: 'account.register',
      outcome: 'ok',
      actorKind: 'user',
      actor: input.email,
      ownerUid: userUid,
      detail: { administrator: admin, invitationUid, openRegistration: !invitationUid && !admin },
    });
    return { userUid };
  },

  async 'account.login'(ctx, { email, authHash }) {
    const user = await ctx.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    /** A login that did not open a session: by the caller's email, in the named account's trail when there is one. */
    const refused = (outcome: 'denied' | 'failed', reason: 'throttled' | 'bad_credentials') =>
      ctx.audit({ action: 'account.login', outcome, actorKind: 'anonymous', actor: email, ownerUid: user?.uid ?? null, detail: { reason } });
    try {
      await assertLoginAllowed(ctx.db, ctx.limits, email, ctx.clientIp, ctx.now);
    } catch (err) {
      await refused('denied', 'throttled');
      throw err;
    }
    const ok = user !== undefined && equalBytes(verifierForAuthHash(fromBase64Url(authHash), fromBase64Url(user.auth_salt)), fromBase64Url(user.auth_verifier));
    if (!user || !ok) {
      await noteLoginFailure(ctx.db, email, ctx.clientIp, ctx.now);
      await refused('failed', 'bad_credentials');
      throw new PosternError('unauthorized', INVALID_LOGIN);
    }
    await clearLoginFailures(ctx.db, email, ctx.clientIp);
    const session = await createSession(ctx.db, user.uid, ctx.clientIp, ctx.now, ctx.limits.sessionTtlMs);
    await ctx.audit({ action: 'account.login', outcome: 'ok', actorKind: 'user', actor: email, ownerUid: user.uid });
    return {
      sessionToken: session.token,
      expiresAt: session.expiresAt,
      userUid: user.uid,
      encryptedDataKey: user.encrypted_data_key,
      publicKey: user.public_key,
      encryptedPrivateKey: user.encrypted_private_key,
    };
  },

  async 'account.logout'(ctx) {
    const user = requireUser(ctx);
    await ctx.db.deleteFrom('sessions').where('token_hash', '=', user.sessionTokenHash).execute();
    await ctx.audit({ action: 'account.logout', outcome: 'ok' });
    return {};
  },

  async 'account.whoami'(ctx) {
    const user = requireUser(ctx);
    const row = await ctx.db.selectFrom('users').select('public_key').where('uid', '=', user.uid).executeTakeFirstOrThrow();
    return { userUid: user.uid, email: user.email, sessionExpiresAt: user.sessionExpiresAt, publicKey: row.public_key };
  },

  async 'session.store-key'(ctx, { sessionDataKey }) {
    const user = requireUser(ctx);
    await ctx.db.updateTable('sessions').set({ session_data_key: sessionDataKey }).where('token_hash', '=', user.sessionTokenHash).execute();
    return {};
  },

  async 'session.keys'(ctx) {
    const user = requireUser(ctx);
    const row = await ctx.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.uid', 'sessions.user_uid')
      .select(['sessions.session_data_key', 'users.encrypted_private_key', 'users.public_key'])
      .where('sessions.token_hash', '=', user.sessionTokenHash)
      .executeTakeFirstOrThrow();
    if (!row.session_data_key) throw new PosternError('bad_state', 'This session has no stored key; run `postern login` again.');
    return {
      sessionDataKey: row.session_data_key,
      encryptedPrivateKey: row.encrypted_private_key,
      publicKey: row.public_key,
      userUid: user.uid,
      email: user.email,
    };
  },

  async 'users.public-key'(ctx, { email }) {
    requireUser(ctx);
    const row = await ctx.db.selectFrom('users').select(['uid', 'public_key']).where('email', '=', email).executeTakeFirst();
    if (!row) throw new PosternError('not_found', `No Postern account is registered for ${email}.`);
    return { userUid: row.uid, publicKey: row.public_key };
  },
};
