import { PosternError } from '../../core/errors.ts';
import { requireEditableRecord } from '../access/records.ts';
import { requireOwnGateway } from '../actions/start-action.ts';
import { SESSION_FRESH_MS } from '../gateway/hub.ts';
import type { PamFeature } from '../actions/catalog.ts';
import { requirePolicy, type Policy } from '../policy/policies.ts';
import { requireUser } from './context.ts';
import type { VaultHandlers } from './handler.ts';

/** Who may switch a PAM configuration feature on or off. */
const FEATURE_POLICIES: Record<PamFeature, Policy> = {
  rotation: 'configure_rotation',
  tunneling: 'configure_tunnels',
  connections: 'configure_connections',
  graphicalRecording: 'configure_connections',
  typescriptRecording: 'configure_connections',
  remoteBrowserIsolation: 'configure_remote_browsing',
};

export const gatewayHandlers: VaultHandlers<'gateway.list' | 'gateway.remove' | 'pam.config.set'> = {
  async 'gateway.list'(ctx) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'manage_gateways');
    const rows = await ctx.db
      .selectFrom('devices')
      .innerJoin('applications', 'applications.uid', 'devices.app_uid')
      .leftJoin('gateway_sessions', 'gateway_sessions.gateway_uid', 'devices.uid')
      .select([
        'devices.uid',
        'devices.app_uid',
        'devices.name',
        'devices.created_at',
        'devices.registered_at',
        'devices.revoked_at',
        'gateway_sessions.worker_id',
        'gateway_sessions.address',
        'gateway_sessions.version',
        'gateway_sessions.connected_at',
        'gateway_sessions.last_seen_at',
      ])
      .where('applications.owner_uid', '=', user.uid)
      .where('devices.kind', '=', 'gateway')
      .orderBy('devices.created_at')
      .execute();
    const n = (v: number | string | null) => (v === null ? null : Number(v));
    return {
      gateways: rows.map((g) => {
        const online = ctx.hub.isConnectedHere(g.uid) || (g.last_seen_at !== null && Number(g.last_seen_at) > ctx.now - SESSION_FRESH_MS);
        return {
          gatewayUid: g.uid,
          appUid: g.app_uid,
          name: g.name,
          online: online && g.revoked_at === null,
          version: online ? g.version : null,
          address: online ? g.address : null,
          connectedSince: online ? n(g.connected_at) : null,
          workerId: online ? g.worker_id : null,
          createdAt: Number(g.created_at),
          registeredAt: n(g.registered_at),
          revokedAt: n(g.revoked_at),
        };
      }),
    };
  },

  async 'gateway.remove'(ctx, { gatewayUid }) {
    const user = requireUser(ctx);
    await requirePolicy(ctx.db, user.uid, 'manage_gateways');
    await requireOwnGateway(ctx.db, user.uid, gatewayUid);
    await ctx.db.updateTable('devices').set({ revoked_at: ctx.now }).where('uid', '=', gatewayUid).execute();
    // A connected gateway is told at once where it is connected here; elsewhere its Worker
    // refuses it on the next reconnect, and its secrets API calls fail from now on.
    ctx.hub.disconnect(gatewayUid, 'gateway removed');
    await ctx.audit({ action: 'gateway.remove', outcome: 'ok', detail: { gatewayUid } });
    return {};
  },

  async 'pam.config.set'(ctx, input) {
    const user = requireUser(ctx);
    const access = await requireEditableRecord(ctx.db, user.uid, input.configUid);
    if (access.record.type !== 'pamConfiguration')
      throw new PosternError('bad_request', `Record ${input.configUid} is a ${access.record.type}, not a pamConfiguration.`);
    await requireOwnGateway(ctx.db, user.uid, input.gatewayUid);
    // Each feature switched on or off takes the policy that configures it (the seed's policy list).
    const current = await ctx.db.selectFrom('pam_configurations').select('features').where('config_uid', '=', input.configUid).executeTakeFirst();
    const before = (current ? JSON.parse(current.features) : {}) as Record<string, boolean>;
    for (const [feature, on] of Object.entries(input.features) as [keyof typeof FEATURE_POLICIES, boolean][]) {
      if ((before[feature] === true) !== on) await requirePolicy(ctx.db, user.uid, FEATURE_POLICIES[feature]);
    }
    await ctx.db.deleteFrom('pam_configurations').where('config_uid', '=', input.configUid).execute();
    await ctx.db
      .insertInto('pam_configurations')
      .values({
        config_uid: input.configUid,
        gateway_uid: input.gatewayUid,
        features: JSON.stringify(input.features),
        updated_by: user.uid,
        updated_at: ctx.now,
      })
      .execute();
    await ctx.audit({ action: 'pam.config.set', outcome: 'ok', recordUid: input.configUid, detail: { gatewayUid: input.gatewayUid, ...input.features } });
    return {};
  },
};
