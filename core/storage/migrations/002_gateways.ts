// biome-ignore-all lint/suspicious/noExplicitAny: a migration takes Kysely<any>; it must not depend on the schema type of today (Kysely's migration guide)
import type { Kysely } from 'kysely';

/**
 * The control plane: gateways (devices of kind "gateway") and where they are connected,
 * jobs and their logs, roles with enforcement policies, the plaintext PAM metadata the
 * Router needs to route and authorise actions (which gateway a configuration uses, which
 * features it allows), and rotation schedules with their exactly-once run claims.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('devices')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('device'))
    .execute();
  await db.schema
    .alterTable('users')
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('gateway_sessions')
    .addColumn('gateway_uid', 'text', (c) => c.primaryKey())
    .addColumn('worker_id', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('jobs')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('gateway_uid', 'text', (c) => c.notNull())
    .addColumn('owner_uid', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('record_uid', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('step', 'text')
    .addColumn('message', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('jobs_owner').on('jobs').columns(['owner_uid', 'created_at']).execute();

  await db.schema
    .createTable('job_logs')
    .addColumn('job_uid', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_logs_pk', ['job_uid', 'seq'])
    .execute();

  await db.schema
    .createTable('roles')
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('policies', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('role_members')
    .addColumn('role_uid', 'text', (c) => c.notNull())
    .addColumn('user_uid', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('role_members_pk', ['role_uid', 'user_uid'])
    .execute();
  await db.schema.createIndex('role_members_user').on('role_members').column('user_uid').execute();

  await db.schema
    .createTable('pam_configurations')
    .addColumn('config_uid', 'text', (c) => c.primaryKey())
    .addColumn('gateway_uid', 'text', (c) => c.notNull())
    .addColumn('features', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('rotation_schedules')
    .addColumn('record_uid', 'text', (c) => c.primaryKey())
    .addColumn('configuration_uid', 'text', (c) => c.notNull())
    .addColumn('resource_uid', 'text')
    .addColumn('schedule', 'text', (c) => c.notNull())
    .addColumn('next_run_at', 'bigint')
    .addColumn('owner_uid', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rotation_schedules_due').on('rotation_schedules').column('next_run_at').execute();

  await db.schema
    .createTable('schedule_runs')
    .addColumn('record_uid', 'text', (c) => c.notNull())
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('fired_at', 'bigint', (c) => c.notNull())
    .addColumn('fired_by', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('schedule_runs_pk', ['record_uid', 'due_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['schedule_runs', 'rotation_schedules', 'pam_configurations', 'role_members', 'roles', 'job_logs', 'jobs', 'gateway_sessions']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
