// biome-ignore-all lint/suspicious/noExplicitAny: a migration takes Kysely<any>; it must not depend on the schema type of today (Kysely's migration guide)
import type { Kysely } from 'kysely';

/**
 * Post-rotation scripts run only when a holder of `manage_rotation_scripts` approved them; the
 * approval is the Router's signature (core/protocol/script-approval.ts), kept beside the file.
 * Scripts attached before this migration start unapproved: a gateway will not run them until an
 * administrator approves each (`postern record approve-script FILE_UID`). The Administrators role, made
 * with the policies of its day, gains the new policy.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').addColumn('approved_by', 'text').execute();
  await db.schema.alterTable('files').addColumn('approved_at', 'bigint').execute();
  await db.schema.alterTable('files').addColumn('approval_signature', 'text').execute();

  const admins = await db.selectFrom('roles').select(['uid', 'policies']).where('name', '=', 'Administrators').execute();
  for (const role of admins) {
    const policies = JSON.parse(role.policies as string) as string[];
    if (!policies.includes('manage_rotation_scripts')) {
      await db
        .updateTable('roles')
        .set({ policies: JSON.stringify([...policies, 'manage_rotation_scripts']) })
        .where('uid', '=', role.uid)
        .execute();
    }
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').dropColumn('approval_signature').execute();
  await db.schema.alterTable('files').dropColumn('approved_at').execute();
  await db.schema.alterTable('files').dropColumn('approved_by').execute();
}
