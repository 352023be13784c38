/**
 * The action contract (./actions.ts) is typed end to end. The functions below are never run: they
 * are compiled by `tsc --noEmit` (npm test type-checks before it tests), and every line after a
 * `@ts-expect-error` must fail to compile, or the build fails. They are shaped like the three
 * users of the contract, with their real types: the CLI's call (core/vault-client `action`), the
 * Router's catalog (router/actions/catalog.ts) and the gateway's handlers
 * (gateway/actions/index.ts). A misspelt action name, a missing required field and a field the
 * contract does not have are each refused in all three.
 */
import { describe, expect, it } from 'vitest';
import type { ActionHandler } from '../../gateway/actions/action.ts';
import type { RouterAction } from '../../router/actions/catalog.ts';
import type { VaultClient } from '../vault-client/index.ts';
import { ACTION_CONTRACTS, ACTION_NAMES, type ActionName, type ActionParams, type ActionRequest } from './actions.ts';

const uid = 'AAAAAAAAAAAAAAAAAAAAAA';

/** Like vault/cli/commands/*.ts and vault/tunnel/session.ts. */
function cliShaped(vault: VaultClient): void {
  void vault.action('rotate', { recordUid: uid, configurationUid: uid, resourceUid: uid, params: { resume: true } });
  void vault.action('gateway-info', { gatewayUid: uid });
  void vault.action('webrtc-session', { recordUid: uid, configurationUid: uid, params: { sessionId: 's', offer: 'o' } });
  // @ts-expect-error a misspelt action name
  void vault.action('rotat', { recordUid: uid });
  // @ts-expect-error a missing required field: gateway-info names its gateway
  void vault.action('gateway-info', {});
  // @ts-expect-error a missing required param: webrtc-session's offer
  void vault.action('webrtc-session', { recordUid: uid, params: { sessionId: 's' } });
  // @ts-expect-error a param the Router sets itself
  void vault.action('rotate', { recordUid: uid, params: { resourceUid: uid } });
  // @ts-expect-error a resource beside an action that takes none
  void vault.action('webrtc-session', { recordUid: uid, resourceUid: uid, params: { sessionId: 's', offer: 'o' } });
  // @ts-expect-error a param of the wrong kind
  void vault.action('rotate', { recordUid: uid, params: { resume: 'yes' } });
}

/** Like router/actions/catalog.ts. */
function routerShaped(): void {
  const rotate: RouterAction<'rotate'>['sets'] = {
    jobUid: (r) => r.jobUid,
    recordUid: (r) => r.recordUid,
    configurationUid: (r) => r.configurationUid,
    resourceUid: (r) => r.resourceUid,
    adminCredentialUid: (r) => r.adminCredentialUid,
    requestedBy: (r) => r.requestedBy,
  };
  // @ts-expect-error a missing required field: the admin credential the Router authorised
  const missing: RouterAction<'rotate'>['sets'] = {
    jobUid: (r) => r.jobUid,
    recordUid: (r) => r.recordUid,
    configurationUid: (r) => r.configurationUid,
    resourceUid: (r) => r.resourceUid,
    requestedBy: (r) => r.requestedBy,
  };
  const misspelt: RouterAction<'rotate'>['sets'] = {
    ...rotate,
    // @ts-expect-error a misspelt field
    adminCredentialUID: (r) => r.adminCredentialUid,
  };
  const noJob: RouterAction<'gateway-info'>['sets'] = {
    requestedBy: (r) => r.requestedBy,
    // @ts-expect-error gateway-info takes no job, and the Router resolves none for it
    jobUid: (r) => r.jobUid,
  };
  // @ts-expect-error a catalog that leaves actions out
  const catalog: { [N in ActionName]: RouterAction<N> } = { rotate: { policy: 'rotate', defaultTimeoutMs: 1, sets: rotate } };
  // @ts-expect-error a misspelt action name in the catalog
  const misnamed: Partial<{ [N in ActionName]: RouterAction<N> }> = { rotat: { policy: 'rotate', defaultTimeoutMs: 1, sets: rotate } };
  void [missing, misspelt, noJob, catalog, misnamed];
}

/** Like gateway/actions/*.ts. */
function gatewayShaped(): void {
  const rotate: ActionHandler<'rotate'> = async (p) => ({ code: 'ok', data: { jobUid: p.jobUid } });
  // @ts-expect-error a misspelt param
  const misspelt: ActionHandler<'rotate'> = async (p) => ({ code: 'ok', data: { jobUid: p.jobUID } });
  // @ts-expect-error a result missing a required field: job-cancel answers with the status
  const partial: ActionHandler<'job-cancel'> = async (p) => ({ code: 'ok', data: { jobUid: p.jobUid } });
  // @ts-expect-error a refusal without its message
  const silent: ActionHandler<'gateway-info'> = async () => ({ code: 'bad_state' });
  // @ts-expect-error a handler table that leaves actions out
  const handlers: { [N in ActionName]: ActionHandler<N> } = { rotate };
  // @ts-expect-error a misspelt action name in the table
  const misnamed: Partial<{ [N in ActionName]: ActionHandler<N> }> = { rotat: rotate };
  void [misspelt, partial, silent, handlers, misnamed];
}

/** The request and params types follow the schemas. */
function typesFollowSchemas(params: ActionParams<'webrtc-session'>, request: ActionRequest<'job-cancel'>): void {
  const offer: string = params.offer;
  const job: string = request.jobUid;
  // @ts-expect-error job-cancel addresses a job, not a record
  const record: string = request.recordUid;
  void [offer, job, record];
}

describe('the action contract', () => {
  it('has one contract per action name, and the compile-time checks above are only compiled', () => {
    expect(Object.keys(ACTION_CONTRACTS).sort()).toEqual([...ACTION_NAMES].sort());
    // Never called: they exist to be compiled.
    expect([cliShaped, routerShaped, gatewayShaped, typesFollowSchemas].every((f) => typeof f === 'function')).toBe(true);
  });
});
