/**
 * What the Router adds to each action of the contract (core/protocol/actions.ts): the policy that
 * allows it, the PAM feature it needs, how long the gateway has to answer, and how it fills each
 * param the gateway receives from what it resolved. Mapped over ACTION_NAMES: an action without
 * an entry, a param of the schema left unfilled, or one the schema does not have, do not compile.
 * Adding an action is one contract in core, one entry here and one handler on the gateway
 * (gateway/actions/index.ts).
 *
 * Caller parameters never name what the Router checks: the record, its resource, the resource's
 * admin credential, the PAM configuration, the job and the requester are resolved and authorised
 * by the Router (./start-action.ts, ./linked-resource.ts) and set by it alone, after the caller's.
 */
import type { ActionCallerParams, ActionContractOf, ActionName, ActionParamsInput, ActionTargetOf } from '../../core/protocol/actions.ts';
import type { IceServerEntry } from '../../core/protocol/vault-api.ts';
import type { Policy } from '../policy/policies.ts';
import type { LinkedResource } from './linked-resource.ts';

export type PamFeature = 'rotation' | 'connections' | 'remoteBrowserIsolation' | 'tunneling' | 'graphicalRecording' | 'typescriptRecording';

/** What the Router resolved for an action, by what the action addresses. */
export interface ResolvedTarget {
  record: { recordUid: string; configurationUid: string };
  configuration: { configurationUid: string };
  job: { jobUid: string };
  gateway: unknown;
}

type If<Flag, T> = Flag extends true ? T : unknown;

/**
 * Everything the Router resolved for action N, as the contract says it needs: always the
 * requester; the record, configuration or job it addresses; the linked resource and admin
 * credential (`resource`); the job it opened (`job`); the gateway's TURN credentials (`relay`).
 */
export type Resolved<N extends ActionName> = { requestedBy: string } & ResolvedTarget[ActionTargetOf<N>] &
  If<ActionContractOf<N>['resource'], LinkedResource> &
  If<ActionContractOf<N>['job'], { jobUid: string }> &
  If<ActionContractOf<N>['relay'], { iceServers: IceServerEntry[] }>;

/** The params the Router sets itself: all of action N's but the caller's. */
export type RouterParams<N extends ActionName> = Omit<ActionParamsInput<N>, keyof ActionContractOf<N>['caller']['shape']>;

export interface RouterAction<N extends ActionName> {
  policy: Policy | null;
  /** The PAM configuration must allow this feature. */
  feature?: PamFeature;
  defaultTimeoutMs: number;
  /**
   * How the Router fills each param it sets, from what it resolved: every one of them, named
   * (nothing it does not list reaches the gateway but the caller's checked params, under these).
   */
  sets: { readonly [K in keyof RouterParams<N>]-?: (resolved: Resolved<N>) => RouterParams<N>[K] };
}

const catalog: { readonly [N in ActionName]: RouterAction<N> } = {
  rotate: {
    policy: 'rotate',
    feature: 'rotation',
    defaultTimeoutMs: 15_000,
    sets: {
      jobUid: (r) => r.jobUid,
      recordUid: (r) => r.recordUid,
      configurationUid: (r) => r.configurationUid,
      // null tells the gateway "no resource" and "no admin": it uses nothing the Router did not name.
      resourceUid: (r) => r.resourceUid,
      adminCredentialUid: (r) => r.adminCredentialUid,
      requestedBy: (r) => r.requestedBy,
    },
  },
  'job-info': {
    policy: null,
    defaultTimeoutMs: 10_000,
    sets: { jobUid: (r) => r.jobUid, requestedBy: (r) => r.requestedBy },
  },
  'job-cancel': {
    policy: 'rotate',
    defaultTimeoutMs: 10_000,
    sets: { jobUid: (r) => r.jobUid, requestedBy: (r) => r.requestedBy },
  },
  'gateway-info': {
    policy: 'manage_gateways',
    defaultTimeoutMs: 10_000,
    sets: { requestedBy: (r) => r.requestedBy },
  },
  'discover-job-start': {
    policy: 'run_discovery',
    defaultTimeoutMs: 15_000,
    sets: { jobUid: (r) => r.jobUid, configurationUid: (r) => r.configurationUid, requestedBy: (r) => r.requestedBy },
  },
  'webrtc-session': {
    policy: 'start_tunnels',
    feature: 'tunneling',
    defaultTimeoutMs: 30_000,
    // The offer (the caller's) is sealed end to end with the resource's signalling key; the Router relays it.
    sets: { recordUid: (r) => r.recordUid, configurationUid: (r) => r.configurationUid, iceServers: (r) => r.iceServers, requestedBy: (r) => r.requestedBy },
  },
};
export const ACTIONS = Object.freeze(catalog);

/** The gateway's params of action N: the caller's checked params, then each the Router sets over them. */
export function gatewayParams<N extends ActionName>(spec: RouterAction<N>, resolved: Resolved<N>, caller: ActionCallerParams<N>): ActionParamsInput<N> {
  const params: Record<string, unknown> = { ...caller };
  for (const [key, fill] of Object.entries(spec.sets) as [string, (r: Resolved<N>) => unknown][]) params[key] = fill(resolved);
  // Every key of RouterParams<N> is filled (`sets` is complete by type) and the rest is the caller's.
  return params as ActionParamsInput<N>;
}
