import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import { isPolicy, POLICIES, requireAdmin, userPolicies } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import type { VaultCallContext } from './context.ts';
import type { VaultHandlers } from './handler.ts';

function checkPolicies(policies: string[]): string[] {
  const unknown = policies.filter((p) => !isPolicy(p));
  if (unknown.length)
    throw new PosternError(
      'bad_request',
      `Unknown polic${unknown.length > 1 ? 'ies' : 'y'} ${unknown.map((p) => `"${p}"`).join(', ')}. Known: ${POLICIES.join(', ')}.`,
    );
  return [...new Set(policies)];
}

async function roleNamed(ctx: VaultCallContext, name: string) {
  const role = await ctx.db.selectFrom('roles').selectAll().where('name', '=', name).executeTakeFirst();
  if (!role) throw new PosternError('not_found', `No role named "${name}". See \`postern role list\`.`);
  return role;
}

async function userByEmail(ctx: VaultCallContext, email: string) {
  const row = await ctx.db.selectFrom('users').select('uid').where('email', '=', email).executeTakeFirst();
  if (!row) throw new PosternError('not_found', `No Postern account is registered for ${email}.`);
  return row.uid;
}

export const roleHandlers: VaultHandlers<'role.list' | 'role.add' | 'role.update' | 'role.remove' | 'role.assign' | 'role.unassign' | 'policy.mine'> = {
  async 'role.list'(ctx) {
    await requireAdmin(ctx.db, requireUser(ctx).uid);
    const roles = await ctx.db.selectFrom('roles').selectAll().orderBy('name').execute();
    const members = await ctx.db
      .selectFrom('role_members')
      .innerJoin('users', 'users.uid', 'role_members.user_uid')
      .select(['role_members.role_uid', 'users.email'])
      .execute();
    return {
      roles: roles.map((r) => ({
        roleUid: r.uid,
        name: r.name,
        policies: JSON.parse(r.policies) as string[],
        members: members
          .filter((m) => m.role_uid === r.uid)
          .map((m) => m.email)
          .sort(),
      })),
      policies: [...POLICIES],
    };
  },

  async 'role.add'(ctx, { name, policies }) {
    await requireAdmin(ctx.db, requireUser(ctx).uid);
    const exists = await ctx.db.selectFrom('roles').select('uid').where('name', '=', name).executeTakeFirst();
    if (exists) throw new PosternError('conflict', `A role named "${name}" already exists.`);
    const roleUid = newUid();
    await ctx.db
      .insertInto('roles')
      .values({ uid: roleUid, name, policies: JSON.stringify(checkPolicies(policies)), created_at: ctx.now })
      .execute();
    await ctx.audit({ action: 'role.add', outcome: 'ok', detail: { role: name, policies: policies.join(',') } });
    return { roleUid };
  },

  async 'role.update'(ctx, { name, policies }) {
    await requireAdmin(ctx.db, requireUser(ctx).uid);
    const role = await roleNamed(ctx, name);
    await ctx.db
      .updateTable('roles')
      .set({ policies: JSON.stringify(checkPolicies(policies)) })
      .where('uid', '=', role.uid)
      .execute();
    await ctx.audit({ action: 'role.update', outcome: 'ok', detail: { role: name, policies: policies.join(',') } });
    return {};
  },

  async 'role.remove'(ctx, { name }) {
    await requireAdmin(ctx.db, requireUser(ctx).uid);
    const role = await roleNamed(ctx, name);
    await ctx.db.deleteFrom('role_members').where('role_uid', '=', role.uid).execute();
    await ctx.db.deleteFrom('roles').where('uid', '=', role.uid).execute();
    await ctx.audit({ action: 'role.remove', outcome: 'ok', detail: { role: name } });
    return {};
  },

  async 'role.assign'(ctx, { name, email }) {
    await requireAdmin(ctx.db, requireUser(ctx).uid);
    const role = await roleNamed(ctx, name);
    const userUid = await userByEmail(ctx, email);
    await ctx.db.deleteFrom('role_members').where('role_uid', '=', role.uid).where('user_uid', '=', userUid).execute();
    await ctx.db.insertInto('role_members').values({ role_uid: role.uid, user_uid: userUid }).execute();
    await ctx.audit({ action: 'role.assign', outcome: 'ok', detail: { role: name, userUid } });
    return {};
  },

  async 'role.unassign'(ctx, { name, email }) {
    await requireAdmin(ctx.db, requireUser(ctx).uid);
    const role = await roleNamed(ctx, name);
    const userUid = await userByEmail(ctx, email);
    await ctx.db.deleteFrom('role_members').where('role_uid', '=', role.uid).where('user_uid', '=', userUid).execute();
    await ctx.audit({ action: 'role.unassign', outcome: 'ok', detail: { role: name, userUid } });
    return {};
  },

  async 'policy.mine'(ctx) {
    const user = requireUser(ctx);
    const row = await ctx.db.selectFrom('users').select('is_admin').where('uid', '=', user.uid).executeTakeFirstOrThrow();
    return { policies: [...(await userPolicies(ctx.db, user.uid))].sort(), administrator: row.is_admin === 1 };
  },
};
