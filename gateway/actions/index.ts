/**
 * The actions this gateway answers, one handler per action of the contract
 * (core/protocol/actions.ts; mapped over its names, so a missing one does not compile), and the
 * dispatcher the Router link calls for each `action` frame: it refuses a name it does not know
 * and parses the params with the action's schema before the handler sees them.
 */
import { PosternError } from '../../core/errors.ts';
import { isActionName, parseActionParams, type ActionName, type ActionParams } from '../../core/protocol/actions.ts';
import type { ActionFrame } from '../link/router-link.ts';
import type { ActionContext, ActionHandler, ActionReply } from './action.ts';
import { gatewayInfo } from './gateway-info.ts';
import { jobCancel } from './job-cancel.ts';
import { jobInfo } from './job-info.ts';
import { rotate } from './rotate.ts';
import { notAvailable } from './unavailable.ts';
import { webrtcSession } from './webrtc-session.ts';

export type { ActionContext, ActionHandler, ActionReply, SecretsReader } from './action.ts';

const handlers: { readonly [N in ActionName]: ActionHandler<N> } = {
  'gateway-info': gatewayInfo,
  'job-info': jobInfo,
  'job-cancel': jobCancel,
  rotate,
  'discover-job-start': notAvailable('discover-job-start'),
  'webrtc-session': webrtcSession,
};
export const ACTION_HANDLERS = Object.freeze(handlers);

export async function dispatchAction(frame: Pick<ActionFrame, 'action' | 'params'>, ctx: ActionContext): Promise<ActionReply> {
  if (!isActionName(frame.action))
    return {
      code: 'bad_request',
      message: `Unknown action "${frame.action}"; this gateway (${ctx.version}) knows ${Object.keys(ACTION_HANDLERS).join(', ')}.`,
    };
  return dispatch(frame.action, frame.params, ctx);
}

async function dispatch<N extends ActionName>(name: N, raw: Record<string, unknown>, ctx: ActionContext): Promise<ActionReply> {
  let params: ActionParams<N>;
  try {
    params = parseActionParams(name, raw);
  } catch (err) {
    if (err instanceof PosternError) return { code: 'bad_request', message: err.message };
    throw err;
  }
  const handler: ActionHandler<N> = ACTION_HANDLERS[name];
  ctx.logger.debug({ action: name }, 'action received');
  try {
    return await handler(params, ctx);
  } catch (err) {
    ctx.logger.warn({ action: name, err: ctx.scrubber.scrubError(err) }, 'action failed');
    return { code: 'bad_state', message: ctx.scrubber.scrub(err instanceof Error ? err.message : String(err)) };
  }
}
