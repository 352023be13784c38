/**
 * The gateway-binding check, one for every action that goes through a PAM configuration (rotate
 * in ../rotation/engine.ts, webrtc-session; discovery when it comes): the configuration record,
 * as this gateway fetched it, must name this gateway. The Router routes an action by the binding
 * the vault published from that record (`pam.config.set`); the record itself is ciphertext to
 * the Router, so this is where a stale or forged binding stops, before anything is dialled.
 * Actions on a job need none (a job is only known to the gateway that runs it), nor
 * `gateway-info` (it names the gateway itself).
 */
import { PosternError } from '../../core/errors.ts';
import type { SecretRecord } from '../../core/secrets-client/index.ts';

export function requireBoundHere(configuration: Pick<SecretRecord, 'uid' | 'data'>, self: string | null): void {
  const boundTo = (configuration.data.fields as Record<string, unknown> | undefined)?.['gatewayUid'];
  if (self !== null && boundTo === self) return;
  throw new PosternError('not_allowed', `PAM configuration ${configuration.uid} names gateway ${String(boundTo)}, not this gateway (${self ?? 'unknown'}).`, {
    configurationUid: configuration.uid,
  });
}
