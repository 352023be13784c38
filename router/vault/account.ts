import { equalBytes, fromBase64Url, hmacSha256, randomBytes, toBase64Url, utf8, verifierForAuthHash } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import { assertLoginAllowed, clearLoginFailures, noteLoginFailure } from '../account/login-throttle.ts';
import { createSession } from '../account/sessions.ts';
import { bootstrapAdministrator } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

const INVALID_LOGIN = 'The email or master password is incorrect.';

export const accountHandlers: VaultHandlers<
  | 'account.prelogin'
  | 'account.register'
  | 'account.login'
  | 'account.logout'
  | 'account.whoami'
  | 'session.store-key'
  | 'session.keys'
  | 'users.public-key'
> = {
  async 'account.prelogin'(ctx, { email }) {
    const user = await ctx.db.selectFrom('users').select('kdf').where('email', '=', email).executeTakeFirst();
    if (user) return { kdf: JSON.parse(user.kdf) };
    // Unknown accounts get stable, plausible parameters so prelogin does not reveal who is registered.
    const salt = toBase64Url(hmacSha256(ctx.keys.privateKey, utf8(`prelogin/${email}`)).slice(0, 16));
    return { kdf: { algorithm: 'pbkdf2-sha256', iterations: 600_000, salt } };
  },

  async 'account.register'(ctx, input) {
    const existing = await ctx.db.selectFrom('users').select('uid').where('email', '=', input.email).executeTakeFirst();
    if (existing) throw new PosternError('conflict', `An account for ${input.email} already exists.`);
    const userUid = newUid();
    const authSalt = randomBytes(16);
    await ctx.db
      .insertInto('users')
      .values({
        uid: userUid,
        email: input.email,
        kdf: JSON.stringify(input.kdf),
        auth_salt: toBase64Url(authSalt),
        auth_verifier: toBase64Url(verifierForAuthHash(fromBase64Url(input.authHash), authSalt)),
        encrypted_data_key: input.encryptedDataKey,
        public_key: input.publicKey,
        encrypted_private_key: input.encryptedPrivateKey,
        created_at: ctx.now,
      })
      .execute();
    const admin = await bootstrapAdministrator(ctx.db, userUid, ctx.now);
    await ctx.audit({ action: 'account.register', outcome: 'ok', actorKind: 'user', actor: input.email, ownerUid: userUid, detail: { administrator: admin } });
    return { userUid };
  },

  async 'account.login'(ctx, { email, authHash }) {
    const user = await ctx.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    try {
      await assertLoginAllowed(ctx.db, ctx.limits, email, ctx.clientIp, ctx.now);
    } catch (err) {
      await ctx.audit({ action: 'account.login', outcome: 'denied', actorKind: 'anonymous', actor: email, ownerUid: user?.uid ?? null, detail: { reason: 'throttled' } });
      throw err;
    }
    const ok = user !== undefined && equalBytes(verifierForAuthHash(fromBase64Url(authHash), fromBase64Url(user.auth_salt)), fromBase64Url(user.auth_verifier));
    if (!user || !ok) {
      await noteLoginFailure(ctx.db, email, ctx.clientIp, ctx.now);
      await ctx.audit({ action: 'account.login', outcome: 'failed', actorKind: 'anonymous', actor: email, ownerUid: user?.uid ?? null, detail: { reason: 'bad_credentials' } });
      throw new PosternError('unauthorized', INVALID_LOGIN);
    }
    await clearLoginFailures(ctx.db, email, ctx.now, ctx.limits.loginWindowMs);
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
    return { sessionDataKey: row.session_data_key, encryptedPrivateKey: row.encrypted_private_key, publicKey: row.public_key, userUid: user.uid, email: user.email };
  },

  async 'users.public-key'(ctx, { email }) {
    requireUser(ctx);
    const row = await ctx.db.selectFrom('users').select(['uid', 'public_key']).where('email', '=', email).executeTakeFirst();
    if (!row) throw new PosternError('not_found', `No Postern account is registered for ${email}.`);
    return { userUid: row.uid, publicKey: row.public_key };
  },
};
