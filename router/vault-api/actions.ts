import { PosternError } from '../../core/errors.ts';
import { requireReadableRecord } from '../access/records.ts';
import { startAction } from '../actions/start-action.ts';
import { requirePolicy } from '../policy/policies.ts';
import { iceServersFor } from '../relay/ice-servers.ts';
import { jobLogs, toJobView } from '../jobs/store.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

export const actionHandlers: VaultHandlers<'action.send' | 'job.get' | 'job.list' | 'relay.credentials'> = {
  async 'action.send'(ctx, input) {
    const user = requireUser(ctx);
    const outcome = await startAction({ db: ctx.db, hub: ctx.hub, now: () => ctx.now, relay: ctx.relay }, { userUid: user.uid, label: user.email }, input);
    await ctx.audit({
      action: `action.${input.action}`,
      outcome: outcome.code === 'ok' ? 'ok' : 'failed',
      recordUid: input.recordUid ?? null,
      detail: { code: outcome.code, gatewayUid: outcome.gatewayUid ?? null, jobUid: outcome.jobUid ?? null },
    });
    return outcome;
  },

  async 'job.get'(ctx, { jobUid, afterSeq }) {
    const user = requireUser(ctx);
    const job = await ctx.db.selectFrom('jobs').selectAll().where('uid', '=', jobUid).executeTakeFirst();
    if (!job) throw new PosternError('not_allowed', `You cannot see job ${jobUid}.`);
    if (job.owner_uid !== user.uid) {
      if (!job.record_uid) throw new PosternError('not_allowed', `You cannot see job ${jobUid}.`);
      await requireReadableRecord(ctx.db, user.uid, job.record_uid);
    }
    const logs = await jobLogs(ctx.db, jobUid, afterSeq);
    return { job: toJobView(job), logs: logs.map((l) => ({ seq: Number(l.seq), at: Number(l.at), line: l.line })) };
  },

  async 'job.list'(ctx, { limit }) {
    const user = requireUser(ctx);
    const rows = await ctx.db.selectFrom('jobs').selectAll().where('owner_uid', '=', user.uid).orderBy('created_at', 'desc').limit(limit).execute();
    return { jobs: rows.map(toJobView) };
  },

  /** TURN credentials for the person starting a tunnel (the gateway gets its own with the action). */
  async 'relay.credentials'(ctx) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'start_tunnels');
    return iceServersFor(ctx.relay, user.uid, ctx.now);
  },
};
