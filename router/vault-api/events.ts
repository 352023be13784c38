import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

export const eventHandlers: VaultHandlers<'events.list'> = {
  async 'events.list'(ctx, input) {
    const user = requireUser(ctx);
    let query = ctx.db.selectFrom('events').selectAll().where('owner_uid', '=', user.uid);
    if (input.action) query = query.where('action', '=', input.action);
    if (input.recordUid) query = query.where('record_uid', '=', input.recordUid);
    const rows = await query.orderBy('at', 'desc').orderBy('uid').limit(input.limit).execute();
    return {
      events: rows.map((e) => ({
        uid: e.uid,
        at: Number(e.at),
        actorKind: e.actor_kind,
        actor: e.actor,
        action: e.action,
        recordUid: e.record_uid,
        clientIp: e.client_ip,
        outcome: e.outcome,
        detail: e.detail ? (JSON.parse(e.detail) as Record<string, unknown>) : null,
      })),
    };
  },
};
