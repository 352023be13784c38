/**
 * Role-based enforcement policies (the seed's "Privileged Access Manager" list). A user holds a
 * policy through any of their roles. The first account on a Router is its administrator: it
 * manages roles and starts in an "Administrators" role that holds every policy.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import { isPolicy, POLICIES, type Policy } from '../../core/policies.ts';
import type { Database } from '../../core/storage/schema.ts';

export { isPolicy, POLICIES, type Policy } from '../../core/policies.ts';

export const ADMINISTRATORS_ROLE = 'Administrators';

export async function userPolicies(db: Kysely<Database>, userUid: string): Promise<Set<Policy>> {
  const rows = await db
    .selectFrom('role_members')
    .innerJoin('roles', 'roles.uid', 'role_members.role_uid')
    .select('roles.policies')
    .where('role_members.user_uid', '=', userUid)
    .execute();
  const held = new Set<Policy>();
  for (const row of rows) for (const p of JSON.parse(row.policies) as string[]) if (isPolicy(p)) held.add(p);
  return held;
}

export async function requirePolicy(db: Kysely<Database>, userUid: string, policy: Policy): Promise<void> {
  if (!(await userPolicies(db, userUid)).has(policy)) {
    throw new PosternError('not_allowed', `Your roles do not include the "${policy}" policy. Ask a Postern administrator (\`postern role assign\`).`, {
      policy,
    });
  }
}

export async function requireAdmin(db: Kysely<Database>, userUid: string, what = 'manage roles'): Promise<void> {
  const row = await db.selectFrom('users').select('is_admin').where('uid', '=', userUid).executeTakeFirst();
  if (row?.is_admin !== 1) throw new PosternError('not_allowed', `Only a Postern administrator can ${what}.`);
}

/** Called when an account is created: the very first one becomes the administrator. */
export async function bootstrapAdministrator(db: Kysely<Database>, userUid: string, now: number): Promise<boolean> {
  const others = await db.selectFrom('users').select('uid').where('uid', '!=', userUid).limit(1).execute();
  if (others.length > 0) return false;
  await db.updateTable('users').set({ is_admin: 1 }).where('uid', '=', userUid).execute();
  let role = await db.selectFrom('roles').select('uid').where('name', '=', ADMINISTRATORS_ROLE).executeTakeFirst();
  if (!role) {
    role = { uid: newUid() };
    await db
      .insertInto('roles')
      .values({ uid: role.uid, name: ADMINISTRATORS_ROLE, policies: JSON.stringify(POLICIES), created_at: now })
      .execute();
  }
  await db.insertInto('role_members').values({ role_uid: role.uid, user_uid: userUid }).execute();
  return true;
}
