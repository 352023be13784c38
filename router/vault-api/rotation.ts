import type { Selectable } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import type { RotationEntry } from '../../core/protocol/vault-api.ts';
import { nextRunAfter } from '../../core/schedule/next-run.ts';
import { rotationScheduleSchema } from '../../core/schedule/rotation-schedule.ts';
import type { RotationSchedulesTable } from '../../core/storage/schema.ts';
import { requireEditableRecord, requireReadableRecord } from '../access/records.ts';
import { requirePolicy } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

function toEntry(row: Selectable<RotationSchedulesTable>): RotationEntry {
  return {
    recordUid: row.record_uid,
    configurationUid: row.configuration_uid,
    resourceUid: row.resource_uid,
    schedule: rotationScheduleSchema.parse(JSON.parse(row.schedule)),
    nextRunAt: row.next_run_at === null ? null : Number(row.next_run_at),
    updatedAt: Number(row.updated_at),
  };
}

export const rotationHandlers: VaultHandlers<'rotation.set' | 'rotation.get' | 'rotation.clear'> = {
  async 'rotation.set'(ctx, input) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'configure_rotation');
    const record = await requireEditableRecord(ctx.db, user.uid, input.recordUid);
    if (record.record.type !== 'pamUser')
      throw new PosternError('bad_request', `Rotation is set on pamUser records; ${input.recordUid} is a ${record.record.type}.`);
    const config = await requireReadableRecord(ctx.db, user.uid, input.configurationUid);
    if (config.record.type !== 'pamConfiguration') throw new PosternError('bad_request', `${input.configurationUid} is not a pamConfiguration record.`);
    if (input.resourceUid) await requireReadableRecord(ctx.db, user.uid, input.resourceUid);
    const nextRunAt = nextRunAfter(input.schedule, ctx.now);
    if (input.schedule.kind === 'once' && nextRunAt === null) throw new PosternError('bad_request', 'A run-once schedule must be in the future.');
    await ctx.db.deleteFrom('rotation_schedules').where('record_uid', '=', input.recordUid).execute();
    const row = {
      record_uid: input.recordUid,
      configuration_uid: input.configurationUid,
      resource_uid: input.resourceUid ?? null,
      schedule: JSON.stringify(input.schedule),
      next_run_at: nextRunAt,
      owner_uid: user.uid,
      updated_at: ctx.now,
    };
    await ctx.db.insertInto('rotation_schedules').values(row).execute();
    await ctx.audit({ action: 'rotation.set', outcome: 'ok', recordUid: input.recordUid, detail: { kind: input.schedule.kind, nextRunAt } });
    return toEntry(row);
  },

  async 'rotation.get'(ctx, { recordUid }) {
    const user = requireUser(ctx);
    await requireReadableRecord(ctx.db, user.uid, recordUid);
    const row = await ctx.db.selectFrom('rotation_schedules').selectAll().where('record_uid', '=', recordUid).executeTakeFirst();
    if (!row) throw new PosternError('not_found', `Record ${recordUid} has no rotation settings; set them with \`postern rotation set\`.`);
    return toEntry(row);
  },

  async 'rotation.clear'(ctx, { recordUid }) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'configure_rotation');
    await requireEditableRecord(ctx.db, user.uid, recordUid);
    await ctx.db.deleteFrom('rotation_schedules').where('record_uid', '=', recordUid).execute();
    await ctx.audit({ action: 'rotation.clear', outcome: 'ok', recordUid });
    return {};
  },
};
