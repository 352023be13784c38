/**
 * `webrtc-session {recordUid, configurationUid, sessionId, offer, iceServers}` (its contract:
 * core/protocol/actions.ts): a vault wants a tunnel to the resource `recordUid`. The offer is
 * sealed with the resource's signalling key (core/protocol/webrtc-signalling.ts), so the
 * gateway fetches the resource itself, checks the configuration is bound to it (./binding.ts), opens the
 * offer, answers with werift and returns the sealed answer. The Router relays ciphertext only;
 * `iceServers` are the gateway's own short-lived TURN credentials from the Router.
 */
import { PosternError } from '../../core/errors.ts';
import { isResourceRecordType } from '../../core/records/index.ts';
import type { SecretRecord } from '../../core/secrets-client/index.ts';
import { admitTarget, targetPolicyOf } from '../targets/target-policy.ts';
import type { ActionHandler } from './action.ts';
import { requireBoundHere } from './binding.ts';

export const webrtcSession: ActionHandler<'webrtc-session'> = async (p, ctx) => {
  let records: SecretRecord[];
  try {
    records = await ctx.secrets.getSecrets([p.recordUid, p.configurationUid]);
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_allowed')
      return {
        code: 'not_allowed',
        message: `Resource ${p.recordUid} or PAM configuration ${p.configurationUid} is not shared with this gateway's application.`,
      };
    throw err;
  }
  const resource = records.find((r) => r.uid === p.recordUid);
  const configuration = records.find((r) => r.uid === p.configurationUid);
  if (!resource) return { code: 'not_allowed', message: `Resource ${p.recordUid} is not shared with this gateway's application.` };
  if (configuration?.type !== 'pamConfiguration')
    return { code: 'not_allowed', message: `PAM configuration ${p.configurationUid} is not shared with this gateway's application.` };
  if (!isResourceRecordType(resource.type))
    return { code: 'bad_request', message: `Record ${p.recordUid} is a ${resource.type}; tunnels go to a pamMachine, pamDatabase or pamDirectory.` };
  const config = configuration.data.fields as { features?: { tunneling?: boolean }; portMapping?: string[] };
  if (config.features?.tunneling !== true) return { code: 'not_allowed', message: `Tunneling is not enabled on PAM configuration ${p.configurationUid}.` };
  try {
    requireBoundHere(configuration, ctx.gatewayUid());
  } catch (err) {
    if (err instanceof PosternError) return { code: 'not_allowed', message: err.message };
    throw err;
  }
  const fields = resource.data.fields as { hostname?: unknown; port?: unknown; trafficEncryptionSeed?: unknown; pamSettings?: { allowTunneling?: boolean } };
  if (fields.pamSettings?.allowTunneling === false)
    return { code: 'not_allowed', message: `Tunneling is turned off on resource ${p.recordUid} (pamSettings.allowTunneling).` };
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
