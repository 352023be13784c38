/**
 * What an action handler is and what it may use. The Router sends `{action, params}` with UIDs
 * only; a handler validates the params, answers quickly with a result code, and runs anything
 * long as a job (see ../tasks.ts). Adding an action is one file here and one entry in
 * ./index.ts (and, on the Router, one entry in router/actions/catalog.ts).
 */
import type { z } from 'zod';
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

export type ActionHandler = (params: Record<string, unknown>, ctx: ActionContext) => Promise<ActionReply>;

/** Validates params; a failure is a `bad_request` reply naming the first problem. */
export function parseParams<T>(action: string, schema: z.ZodType<T>, params: Record<string, unknown>): { ok: true; value: T } | { ok: false; reply: ActionReply } {
  const parsed = schema.safeParse(params);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(params)';
  return { ok: false, reply: { code: 'bad_request', message: `"${action}" params are invalid at ${where}: ${issue?.message ?? 'invalid'}.` } };
}
