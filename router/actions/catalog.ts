/**
 * The actions a vault user can send to a gateway, what each needs, and the policy that
 * allows it. Adding an action is one entry here (and its handler on the gateway).
 */
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
  defaultTimeoutMs: number;
}

export const ACTIONS: Record<string, ActionSpec> = {
  rotate: { policy: 'rotate', target: 'record', feature: 'rotation', job: true, defaultTimeoutMs: 15_000 },
  'job-info': { policy: null, target: 'job', defaultTimeoutMs: 10_000 },
  'job-cancel': { policy: 'rotate', target: 'job', defaultTimeoutMs: 10_000 },
  'gateway-info': { policy: 'manage_gateways', target: 'gateway', defaultTimeoutMs: 10_000 },
  'discover-job-start': { policy: 'run_discovery', target: 'configuration', job: true, defaultTimeoutMs: 15_000 },
  'webrtc-session': { policy: 'start_tunnels', target: 'record', feature: 'tunneling', webrtc: true, defaultTimeoutMs: 30_000 },
};
