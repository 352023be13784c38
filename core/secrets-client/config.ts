/**
 * A device's configuration: where the Router is, its pinned key, the device's own signing
 * key and the application key. Whoever reads it can read the application's secrets, so it is
 * written with mode 0600 (by the Node side) and never logged.
 */
import { fromBase64, fromBase64Url, fromUtf8, toBase64, utf8 } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

export interface SecretsConfig {
  version: 1;
  server: string;
  routerPublicKey: string;
  clientId: string;
  privateKey: string;
  appKey: string;
  appUid: string;
  deviceUid: string;
  /**
   * The Router's signing key (base64url), pinned at init: script approvals are checked with it.
   * Configurations written before it existed lack it (the gateway then fetches it at start).
   */
  routerSigningKey?: string;
}

export function encodeConfig(config: SecretsConfig, format: 'json' | 'b64'): string {
  const json = JSON.stringify(config, null, format === 'json' ? 2 : undefined);
  return format === 'json' ? json : toBase64(utf8(json));
}

/** Accepts the JSON text or its base64 form (as in GATEWAY_CONFIG / KSM_CONFIG variables). */
export function decodeConfig(text: string): SecretsConfig {
  const trimmed = text.trim();
  let value: unknown;
  try {
    value = JSON.parse(trimmed.startsWith('{') ? trimmed : fromUtf8(fromBase64(trimmed)));
  } catch {
    throw new PosternError('bad_request', 'The device configuration is neither JSON nor base64-encoded JSON.');
  }
  const c = value as Partial<SecretsConfig>;
  for (const key of ['server', 'routerPublicKey', 'clientId', 'privateKey', 'appKey', 'appUid', 'deviceUid'] as const) {
    if (typeof c[key] !== 'string' || c[key] === '') throw new PosternError('bad_request', `The device configuration lacks "${key}".`);
  }
  for (const key of ['routerPublicKey', 'clientId', 'privateKey', 'appKey'] as const) fromBase64Url(c[key] as string);
  if (c.routerSigningKey !== undefined) {
    if (typeof c.routerSigningKey !== 'string')
      throw new PosternError('bad_request', 'The device configuration\'s "routerSigningKey" must be a base64url string.');
    fromBase64Url(c.routerSigningKey);
  }
  return { version: 1, ...(c as Omit<SecretsConfig, 'version'>) };
}
