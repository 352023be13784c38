/**
 * What an action handler is and what it may use. The Router sends `{action, params}` with UIDs
 * only; the dispatcher (./index.ts) parses the params with the action's schema
 * (core/protocol/actions.ts), so a handler gets them typed, answers quickly with a result code,
 * and runs anything long as a job (see ../jobs.ts). Adding an action is its contract in core,
 * one file here and one entry in ./index.ts (and, on the Router, one in router/actions/catalog.ts).
 */
import type { ActionName, ActionParams, ActionReplyOf } from '../../core/protocol/actions.ts';
import type { SecretRecord } from '../../core/secrets-client/index.ts';
import type { ActionReply } from '../link/router-link.ts';
import type { SecretScrubber } from '../logging/scrubber.ts';
import type { RotationSecrets } from '../rotation/engine.ts';
import type { DownloadedScript, ScriptSettings } from '../rotation/scripts.ts';
import type { JobTracker } from '../jobs.ts';
import type { TunnelSessions } from '../tunnel/sessions.ts';
import type { Logger } from '../../core/logger.ts';

export type { ActionReply };

/** The part of the secrets client actions use (a fake in unit tests). */
export interface SecretsReader extends RotationSecrets {
  getSecrets(recordUids?: string[]): Promise<SecretRecord[]>;
  /** The key of a record fetched earlier (undefined before): a job on it is sealed to its readers. */
  recordKey(recordUid: string): Uint8Array | undefined;
  downloadFile(fileUid: string): Promise<DownloadedScript>;
}

export interface ActionContext {
  version: string;
  /** This gateway's UID as the Router named it (null before the first connection). */
  gatewayUid(): string | null;
  connectedSince(): number | null;
  startedAt: number;
  tasks: JobTracker;
  /** WebRTC tunnel sessions (webrtc-session). */
  tunnels: Pick<TunnelSessions, 'answer' | 'list'>;
  secrets: SecretsReader;
  scrubber: SecretScrubber;
  logger: Logger;
  /** How post-rotation scripts are checked and run; without it no script runs. */
  scripts?: ScriptSettings;
}

/** Action N's handler: params as the contract says the Router sends them, the contract's result when ok. */
export type ActionHandler<N extends ActionName> = (params: ActionParams<N>, ctx: ActionContext) => Promise<ActionReplyOf<N>>;
