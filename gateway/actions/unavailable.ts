/**
 * Actions the Router knows but this gateway version does not implement yet (discovery): a clear
 * `bad_request` instead of silence or a timeout.
 */
import type { ActionName } from '../../core/protocol/actions.ts';
import type { ActionHandler } from './action.ts';

export function notAvailable<N extends ActionName>(action: N): ActionHandler<N> {
  return async (_params, ctx) => ({
    code: 'bad_request',
    message: `The "${action}" action is not available in this gateway version (${ctx.version}).`,
  });
}
