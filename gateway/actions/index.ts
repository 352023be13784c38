/**
 * The actions this gateway answers, by name (the names of router/actions/catalog.ts), and the
 * dispatcher the Router link calls for each `action` frame.
 */
import type { ActionFrame } from '../link/router-link.ts';
import type { ActionContext, ActionHandler, ActionReply } from './action.ts';
import { gatewayInfo } from './gateway-info.ts';
import { jobCancel } from './job-cancel.ts';
import { jobInfo } from './job-info.ts';
import { rotate } from './rotate.ts';
import { notAvailable } from './unavailable.ts';
import { webrtcSession } from './webrtc-session.ts';

export type { ActionContext, ActionHandler, ActionReply, SecretsReader } from './action.ts';

export const ACTION_HANDLERS: Readonly<Record<string, ActionHandler>> = Object.freeze({
  'gateway-info': gatewayInfo,
  'job-info': jobInfo,
  'job-cancel': jobCancel,
  rotate,
  'discover-job-start': notAvailable('discover-job-start'),
  'webrtc-session': webrtcSession,
});

export async function dispatchAction(frame: Pick<ActionFrame, 'action' | 'params'>, ctx: ActionContext): Promise<ActionReply> {
  const handler = Object.hasOwn(ACTION_HANDLERS, frame.action) ? ACTION_HANDLERS[frame.action] : undefined;
  if (!handler) return { code: 'bad_request', message: `Unknown action "${frame.action}"; this gateway (${ctx.version}) knows ${Object.keys(ACTION_HANDLERS).join(', ')}.` };
  ctx.logger.debug({ action: frame.action }, 'action received');
  try {
    return await handler(frame.params, ctx);
  } catch (err) {
    ctx.logger.warn({ action: frame.action, err: ctx.scrubber.scrubError(err) }, 'action failed');
    return { code: 'bad_state', message: ctx.scrubber.scrub(err instanceof Error ? err.message : String(err)) };
  }
}
