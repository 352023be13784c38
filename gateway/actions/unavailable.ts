/**
 * Actions the Router knows but this gateway version does not implement yet (discovery, WebRTC
 * tunnels and connections): a clear `bad_request` instead of silence or a timeout.
 */
import type { ActionHandler } from './action.ts';

export function notAvailable(action: string): ActionHandler {
  return async (_params, ctx) => ({
    code: 'bad_request',
    message: `The "${action}" action is not available in this gateway version (${ctx.version}).`,
  });
}
