/**
 * A gateway proves itself on connect by signing this connection's fresh challenge with its
 * device key. The same device rules as the secrets API apply: registered, of kind gateway,
 * not revoked, not expired, and on its locked IP address.
 */
import type { Kysely } from 'kysely';
import { ecdsaVerify, fromBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { gatewayAuthBytes, type GatewayToRouter } from '../../core/protocol/gateway-wire.ts';
import { REQUEST_MAX_SKEW_MS } from '../../core/protocol/secrets-api.ts';
import type { Database } from '../../core/storage/schema.ts';
import { markDeviceSeen } from '../access/device-seen.ts';
import { findApplication, findDeviceByClientId } from '../access/devices.ts';

export type AuthFrame = Extract<GatewayToRouter, { t: 'auth' }>;

/** What a connection keeps of its gateway for its lifetime: names only, never key material. */
export interface AuthenticatedGateway {
  deviceUid: string;
  ownerUid: string;
}

export async function authenticateGateway(
  db: Kysely<Database>,
  frame: AuthFrame,
  challenge: string,
  clientIp: string,
  now: number,
): Promise<AuthenticatedGateway> {
  if (frame.nonce !== challenge) {
    throw new PosternError('replayed', 'The signed challenge is not the one this connection was given; a captured or reused challenge is refused.');
  }
  if (Math.abs(frame.timestamp - now) > REQUEST_MAX_SKEW_MS)
    throw new PosternError('request_expired', 'The gateway clock is more than 5 minutes off the Router’s.');
  let clientId: Uint8Array;
  try {
    clientId = fromBase64Url(frame.clientId);
  } catch {
    throw new PosternError('unauthorized', 'The client id is not base64url.');
  }
  const device = await findDeviceByClientId(db, clientId);
  if (!device) throw new PosternError('unauthorized', 'Unknown gateway. Initialise it with `postern-gateway init --token …`.');
  if (device.kind !== 'gateway') throw new PosternError('not_allowed', 'This device is not a gateway; create one with `postern gateway create`.');
  if (device.revoked_at !== null) throw new PosternError('revoked', 'This gateway was removed.');
  if (device.access_expires_at !== null && Number(device.access_expires_at) <= now)
    throw new PosternError('access_expired', 'This gateway’s access has expired.');
  if (device.public_key === null) throw new PosternError('bad_state', 'This gateway has not been initialised; run `postern-gateway init --token …`.');
  if (!(await ecdsaVerify(fromBase64Url(device.public_key), gatewayAuthBytes(frame.nonce, frame.timestamp, frame.clientId), fromBase64Url(frame.signature)))) {
    throw new PosternError('bad_signature', 'The challenge signature does not verify with this gateway’s key.');
  }
  if (device.ip_lock === 1 && device.locked_ip !== null && device.locked_ip !== clientIp) {
    throw new PosternError('ip_locked', `This gateway is locked to another IP address; ${clientIp} is refused.`);
  }
  await markDeviceSeen(db, device, clientIp, now);
  const app = await findApplication(db, device.app_uid);
  if (!app) throw new PosternError('revoked', 'The application of this gateway no longer exists.');
  return { deviceUid: device.uid, ownerUid: app.owner_uid };
}
