/**
 * The actions a vault user can send to a gateway, what each needs, the policy that allows it,
 * and the parameters a caller may pass (an allow-list: anything else is refused). Adding an
 * action is one entry here (and its handler on the gateway).
 *
 * Caller parameters never name what the Router checks: the record, its resource, the resource's
 * admin credential, the PAM configuration, the job and the requester are resolved and authorised
 * by the Router (./start-action.ts) and set by it alone, after the caller's parameters.
 */
import { z } from 'zod';
import { isSignallingSessionId } from '../../core/protocol/webrtc-signalling.ts';
import type { Policy } from '../policy/policies.ts';

export type PamFeature = 'rotation' | 'connections' | 'remoteBrowserIsolation' | 'tunneling' | 'graphicalRecording' | 'typescriptRecording';

export interface ActionSpec {
  policy: Policy | null;
  /** What names the gateway: a record through its PAM configuration, a job, or the gateway itself. */
  target: 'record' | 'configuration' | 'job' | 'gateway';
  /** The PAM configuration must allow this feature. */
  feature?: PamFeature;
  /** Long work: the Router makes a job first and the gateway reports progress on it. */
  job?: boolean;
  /** Sets up WebRTC: the Router adds the gateway's TURN credentials (its Relay) to the params. */
  webrtc?: boolean;
  /**
   * Rotation: the Router resolves the pamUser's resource and that resource's admin credential,
   * checks the requester may read both, and names them (or their absence) to the gateway.
   */
  resolvesResource?: boolean;
  /** What the caller may put in `params`; strict, so a key the Router sets itself is refused. */
  params: z.ZodObject;
  defaultTimeoutMs: number;
}

const none = z.object({}).strict();

export const ACTIONS: Readonly<Record<string, ActionSpec>> = Object.freeze({
  rotate: {
    policy: 'rotate',
    target: 'record',
    feature: 'rotation',
    job: true,
    resolvesResource: true,
    // resume: only settle a rotation an earlier run left pending (`postern rotation resume`).
    params: z.object({ resume: z.boolean().optional() }).strict(),
    defaultTimeoutMs: 15_000,
  },
  'job-info': { policy: null, target: 'job', params: none, defaultTimeoutMs: 10_000 },
  'job-cancel': { policy: 'rotate', target: 'job', params: none, defaultTimeoutMs: 10_000 },
  'gateway-info': { policy: 'manage_gateways', target: 'gateway', params: none, defaultTimeoutMs: 10_000 },
  'discover-job-start': { policy: 'run_discovery', target: 'configuration', job: true, params: none, defaultTimeoutMs: 15_000 },
  'webrtc-session': {
    policy: 'start_tunnels',
    target: 'record',
    feature: 'tunneling',
    webrtc: true,
    // The offer is sealed end to end with the resource's signalling key; the Router relays it.
    params: z.object({ sessionId: z.string().refine(isSignallingSessionId, 'expected a signalling session id'), offer: z.string().min(1).max(32_768) }).strict(),
    defaultTimeoutMs: 30_000,
  },
} satisfies Record<string, ActionSpec>);
