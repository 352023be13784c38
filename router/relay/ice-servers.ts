/**
 * The ICE servers the Router hands out: its Relay (TURN), with short-lived REST-style
 * credentials for one user or gateway. Vault clients and gateways use only these, so no
 * WebRTC packet leaves for a third party's STUN server.
 */
import { issueTurnRestCredentials, randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import type { IceServerEntry } from '../../core/protocol/vault-api.ts';

export interface RelayConfig {
  /** turn: / turns: URLs of the Relay as clients reach it, e.g. `turn:relay.example.com:3478?transport=udp`. */
  urls: string[];
  /** The shared secret the Relay was started with (`postern relay start --secret-file`). */
  secret: string | Uint8Array;
  /** Lifetime of issued credentials; default 1 hour (enough to set a session up; allocations are refreshed by the relay session, not re-authenticated). */
  ttlSeconds?: number;
}

export const DEFAULT_TURN_TTL_SECONDS = 3600;

/**
 * `who` is a user or gateway UID; it ends up in the Relay's logs, never a name or address. Each
 * call gets its own TURN user id, `<who>.<random>`: the Relay counts its allocation quota by the
 * part before the first '.' (the account or gateway, relay/server/turn-server.ts principalOf),
 * so asking for new credentials gives no new quota; the random part only tells one session's
 * allocations from another's in the Relay's logs. `who` must therefore contain no '.', which
 * UIDs (base64url) never do.
 */
export function iceServersFor(relay: RelayConfig | null | undefined, who: string, now: number): { iceServers: IceServerEntry[]; expiresAt: number | null } {
  if (!relay || relay.urls.length === 0) return { iceServers: [], expiresAt: null };
  if (who.includes('.'))
    throw new PosternError('internal', 'a TURN principal must not contain "." (the Relay counts its quota by the part before the first ".")');
  const userId = `${who}.${toBase64Url(randomBytes(6))}`;
  const credentials = issueTurnRestCredentials(relay.secret, userId, relay.ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS, now);
  return { iceServers: [{ urls: [...relay.urls], username: credentials.username, credential: credentials.password }], expiresAt: credentials.expiresAt };
}
