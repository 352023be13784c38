/**
 * `webrtc-session {recordUid, configurationUid, sessionId, offer, iceServers}`: a vault wants a
 * tunnel to the resource `recordUid`. The offer is sealed with the resource's signalling key
 * (core/protocol/webrtc-signalling.ts), so the gateway fetches the resource itself, opens the
 * offer, answers with werift and returns the sealed answer. The Router relays ciphertext only;
 * `iceServers` are the gateway's own short-lived TURN credentials from the Router.
 */
import { z } from 'zod';
import { PosternError } from '../../core/errors.ts';
import { uid } from '../../core/protocol/vault-api.ts';
import { isSignallingSessionId } from '../../core/protocol/webrtc-signalling.ts';
import { isResourceRecordType } from '../../core/records/index.ts';
import { admitTarget, targetPolicyOf } from '../targets/target-policy.ts';
import { parseParams, type ActionHandler } from './action.ts';

const iceServer = z.object({
  urls: z.array(z.string().regex(/^turns?:/, 'expected turn: or turns: URLs').max(512)).min(1).max(8),
  username: z.string().max(256),
  credential: z.string().max(256),
});

const paramsSchema = z.object({
  recordUid: uid(),
  configurationUid: uid(),
  sessionId: z.string().refine(isSignallingSessionId, 'expected a signalling session id'),
  offer: z.string().min(1).max(32_768),
  iceServers: z.array(iceServer).max(4).default([]),
});

export const webrtcSession: ActionHandler = async (params, ctx) => {
  const parsed = parseParams('webrtc-session', paramsSchema, params);
  if (!parsed.ok) return parsed.reply;
  const p = parsed.value;
  let records;
  try {
    records = await ctx.secrets.getSecrets([p.recordUid, p.configurationUid]);
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_allowed') return { code: 'not_allowed', message: `Resource ${p.recordUid} or PAM configuration ${p.configurationUid} is not shared with this gateway's application.` };
    throw err;
  }
  const resource = records.find((r) => r.uid === p.recordUid);
  const configuration = records.find((r) => r.uid === p.configurationUid);
  if (!resource) return { code: 'not_allowed', message: `Resource ${p.recordUid} is not shared with this gateway's application.` };
  if (!configuration || configuration.type !== 'pamConfiguration') return { code: 'not_allowed', message: `PAM configuration ${p.configurationUid} is not shared with this gateway's application.` };
  if (!isResourceRecordType(resource.type)) return { code: 'bad_request', message: `Record ${p.recordUid} is a ${resource.type}; tunnels go to a pamMachine, pamDatabase or pamDirectory.` };
  const config = configuration.data.fields as { gatewayUid?: string; features?: { tunneling?: boolean }; portMapping?: string[] };
  if (config.features?.tunneling !== true) return { code: 'not_allowed', message: `Tunneling is not enabled on PAM configuration ${p.configurationUid}.` };
  const self = ctx.gatewayUid();
  if (self && config.gatewayUid && config.gatewayUid !== self) return { code: 'not_allowed', message: `PAM configuration ${p.configurationUid} names another gateway.` };
  const fields = resource.data.fields as { hostname?: unknown; port?: unknown; trafficEncryptionSeed?: unknown; pamSettings?: { allowTunneling?: boolean } };
  if (fields.pamSettings?.allowTunneling === false) return { code: 'not_allowed', message: `Tunneling is turned off on resource ${p.recordUid} (pamSettings.allowTunneling).` };
  const targetPolicy = targetPolicyOf(configuration.data.fields as Record<string, unknown>, p.configurationUid);
  if (typeof fields.hostname === 'string') {
    // Refuse at once, not at the first connection: the vault then shows why. Names that do not
    // resolve now are left to the dialer, which checks again (and pins) at every connection.
    const refusal = await admitTarget(fields.hostname, targetPolicy).then(
      () => null,
      (err: unknown) => (err instanceof PosternError ? err : null),
    );
    if (refusal) {
      ctx.logger.warn({ sessionId: p.sessionId, resourceUid: p.recordUid, code: refusal.code }, 'tunnel target refused by the target policy');
      return { code: 'not_allowed', message: `not_allowed: ${refusal.message}` };
    }
  }
  try {
    const { sealedAnswer, target } = await ctx.tunnels.answer({
      resourceUid: p.recordUid,
      resource: fields,
      portMapping: config.portMapping ?? [],
      targetPolicy,
      sessionId: p.sessionId,
      sealedOffer: p.offer,
      iceServers: p.iceServers,
    });
    ctx.logger.info({ sessionId: p.sessionId, resourceUid: p.recordUid, target: `${target.host}:${target.port}` }, 'tunnel session answered');
    return { code: 'ok', data: { answer: sealedAnswer } };
  } catch (err) {
    if (!(err instanceof PosternError)) throw err;
    ctx.logger.warn({ sessionId: p.sessionId, resourceUid: p.recordUid, code: err.code }, 'tunnel session refused');
    const code = err.code === 'not_allowed' ? 'not_allowed' : err.code === 'bad_state' ? 'bad_state' : 'bad_request';
    return { code, message: `${err.code}: ${ctx.scrubber.scrub(err.message)}` };
  }
};
