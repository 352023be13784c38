/**
 * `POST /api/v1/secrets/:operation` for Secrets Manager devices (gateways are devices too).
 * Order of checks: who (client id) → may they at all (revoked, expired, IP), all from the headers
 * before the body is read → is it really them (signature over the exact bytes sent) → is it
 * fresh (timestamp, nonce) → what they asked.
 */
import type { Context } from 'hono';
import { ecdsaVerify, fromBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database } from '../../core/storage/schema.ts';
import { openJson, sealJson } from '../../core/protocol/envelope.ts';
import {
  isSecretsOperation,
  REQUEST_MAX_SKEW_MS,
  requestFrameSchema,
  SECRETS_HEADERS,
  secretsOperations,
  signedBytes,
  type SecretsOperation,
} from '../../core/protocol/secrets-api.ts';
import { markDeviceSeen } from '../access/device-seen.ts';
import { findApplication, findDeviceByClientId } from '../access/devices.ts';
import { recordEvent } from '../audit/events.ts';
import type { RouterDeps, RouterLimits } from '../deps.ts';
import { readWebBody } from '../http/body.ts';
import { sweepExpiredNoncesWhenDue } from '../http/nonce-sweep.ts';
import { transmissionKeysOf } from '../http/transmission-keys.ts';
import { uploadBudgetOf } from '../http/upload-budget.ts';
import type { DeviceCallContext } from './context.ts';
import { deviceHandlers } from './operations.ts';

const LARGE_OPERATIONS: ReadonlySet<SecretsOperation> = new Set(['add_file']);
const NONCE_TTL_MS = 2 * REQUEST_MAX_SKEW_MS;
/** Written on every device request: prepared (core/storage/prepared.ts). */
const insertDeviceNonce = prepareQuery<Database, { deviceUid: string; nonce: string; expiresAt: number }>()((db, $) =>
  db.insertInto('device_nonces').values({ device_uid: $.deviceUid, nonce: $.nonce, expires_at: $.expiresAt }),
);

function decodeHeader(c: Context, name: string): Uint8Array {
  const value = c.req.header(name);
  if (!value) throw new PosternError('unauthorized', `Unsigned request: the ${name} header is missing.`);
  try {
    return fromBase64Url(value);
  } catch {
    throw new PosternError('unauthorized', `The ${name} header is not base64url.`);
  }
}

export function secretsResponseRoute(operation: string): string {
  return `secrets/${operation}/response`;
}

export async function handleSecretsOperation(c: Context, deps: RouterDeps, limits: RouterLimits): Promise<Response> {
  const name = c.req.param('operation') ?? '';
  if (!isSecretsOperation(name)) throw new PosternError('not_found', `Unknown secrets operation "${name.slice(0, 64)}".`);
  const operation: SecretsOperation = name;
  const clientId = decodeHeader(c, SECRETS_HEADERS.clientId);
  const wrappedKey = decodeHeader(c, SECRETS_HEADERS.transmissionKey);
  const signature = decodeHeader(c, SECRETS_HEADERS.signature);

  // Everything the headers can settle is settled before a byte of the body is read, so an
  // unknown or refused device costs the Router one indexed lookup, not a 32 MB upload.
  const now = (deps.now ?? Date.now)();
  const clientIp = deps.clientIp(c);
  const device = await findDeviceByClientId(deps.db, clientId);
  if (!device) throw new PosternError('unauthorized', 'Unknown client id. Initialise this device with a one-time token (`postern secrets init --token …`).');
  const app = await findApplication(deps.db, device.app_uid);
  if (!app) throw new PosternError('revoked', 'The application of this device no longer exists.');

  const audit: DeviceCallContext['audit'] = (event) =>
    recordEvent(deps.db, now, { actorKind: 'device', actor: device.uid, ownerUid: app.owner_uid, clientIp, recordUid: null, ...event });
  const refuse = async (error: PosternError): Promise<never> => {
    await audit({ action: `secrets.${operation}`, outcome: 'denied', detail: { code: error.code } });
    throw error;
  };

  if (device.revoked_at !== null) await refuse(new PosternError('revoked', 'This device was removed from its application.'));
  if (device.access_expires_at !== null && Number(device.access_expires_at) <= now) {
    await refuse(new PosternError('access_expired', 'This device’s access has expired. Ask the application owner for a new device token.'));
  }
  if (device.ip_lock === 1 && device.locked_ip !== null && device.locked_ip !== clientIp) {
    await refuse(new PosternError('ip_locked', `This device is locked to another IP address; requests from ${clientIp} are refused.`));
  }
  const registering = operation === 'register';
  if (device.public_key === null) {
    if (!registering) await refuse(new PosternError('bad_state', 'This device has not been initialised yet; redeem its one-time token first.'));
    if (Number(device.first_access_expires_at) <= now)
      await refuse(new PosternError('token_expired', 'The one-time access token has expired. Create a new one with `postern app client add`.'));
  } else if (registering) {
    await refuse(new PosternError('bad_state', 'This one-time token has already been used to initialise a device.'));
  }

  const large = LARGE_OPERATIONS.has(operation);
  const release = large ? uploadBudgetOf(deps, limits).acquire(`device:${device.uid}`) : null;
  try {
    const body = await (deps.readBody ?? readWebBody)(c, large ? limits.maxFileBodyBytes : limits.maxBodyBytes);
    return await serveOperation({ deps, operation, wrappedKey, signature, now, clientIp, device, app, audit, refuse }, body);
  } finally {
    release?.();
  }
}

/** A device request whose headers passed; what is left needs its body. */
interface AdmittedOperation {
  deps: RouterDeps;
  operation: SecretsOperation;
  wrappedKey: Uint8Array;
  signature: Uint8Array;
  now: number;
  clientIp: string;
  device: DeviceCallContext['device'];
  app: DeviceCallContext['app'];
  audit: DeviceCallContext['audit'];
  refuse: (error: PosternError) => Promise<never>;
}

async function serveOperation(call: AdmittedOperation, body: Uint8Array): Promise<Response> {
  const { deps, operation, wrappedKey, signature, now, clientIp, device, app, audit, refuse } = call;
  const registering = operation === 'register';
  if (device.public_key !== null && !(await ecdsaVerify(fromBase64Url(device.public_key), signedBytes(operation, wrappedKey, body), signature))) {
    await refuse(new PosternError('bad_signature', 'The request signature does not verify with this device’s key.'));
  }

  const transmissionKeys = transmissionKeysOf(deps);
  const { key: transmissionKey, remembered } = await transmissionKeys.unwrap(deps.keys.privateKey, wrappedKey);
  const frame = requestFrameSchema.parse(await openJson(transmissionKey, `secrets/${operation}`, body));
  if (Math.abs(frame.timestamp - now) > REQUEST_MAX_SKEW_MS) {
    await refuse(new PosternError('request_expired', 'The request timestamp is more than 5 minutes from the Router’s clock; check the device clock.'));
  }
  // Signed by the device, sealed under this key by whoever made the wrap, and fresh: only now
  // is the key worth remembering (a device copying another's wrap never gets this far).
  if (!registering && !remembered) transmissionKeys.remember(wrappedKey, transmissionKey);
  const input = secretsOperations[operation].parse(frame.body ?? {});

  if (registering) {
    const publicKey = fromBase64Url((input as { publicKey: string }).publicKey);
    if (!(await ecdsaVerify(publicKey, signedBytes(operation, wrappedKey, body), signature))) {
      await refuse(new PosternError('bad_signature', 'The registration is not signed by the key it registers.'));
    }
  }

  await sweepExpiredNoncesWhenDue(deps.db, 'device_nonces', now);
  // The primary key (device, nonce) refuses a nonce seen before; a nonce remembered but
  // expired cannot come back either, its timestamp is outside the skew window by then.
  try {
    await insertDeviceNonce.execute(deps.db, { deviceUid: device.uid, nonce: frame.nonce, expiresAt: now + NONCE_TTL_MS });
  } catch (err) {
    const seen = await deps.db
      .selectFrom('device_nonces')
      .select('nonce')
      .where('device_uid', '=', device.uid)
      .where('nonce', '=', frame.nonce)
      .executeTakeFirst();
    if (!seen) throw err; // a storage fault, not a replay
    await refuse(new PosternError('replayed', 'This request was already received once (nonce reused); it was not processed again.'));
  }

  let result: unknown;
  if (registering) {
    const publicKey = (input as { publicKey: string }).publicKey;
    const updated = await deps.db
      .updateTable('devices')
      .set({ public_key: publicKey, registered_at: now, last_seen_at: now })
      .where('uid', '=', device.uid)
      .where('public_key', 'is', null)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) await refuse(new PosternError('bad_state', 'This one-time token has already been used to initialise a device.'));
    await audit({ action: 'secrets.register', outcome: 'ok', detail: { deviceUid: device.uid } });
    result = { appUid: app.uid, wrappedAppKey: device.wrapped_app_key, deviceUid: device.uid };
  } else {
    // The IP lock binds to the first address that uses the device after registration, so a
    // configuration made with `--config-init` on an admin workstation locks to the real device.
    await markDeviceSeen(deps.db, device, clientIp, now);
    const ctx: DeviceCallContext = { db: deps.db, now, clientIp, device, app, audit };
    try {
      const handler = deviceHandlers[operation as Exclude<SecretsOperation, 'register'>] as (ctx: DeviceCallContext, input: unknown) => Promise<unknown>;
      result = await handler(ctx, input);
    } catch (err) {
      if (err instanceof PosternError && err.code === 'not_allowed') {
        const named = err.details?.['recordUid'] ?? (input as Record<string, unknown>)['recordUid'];
        const recordUid = typeof named === 'string' ? named : null;
        await audit({ action: `secrets.${operation}`, outcome: 'denied', recordUid, detail: { code: err.code } });
      }
      throw err;
    }
  }
  deps.logger.info({ operation, device: device.uid, ip: clientIp }, 'secrets operation');
  return new Response((await sealJson(transmissionKey, secretsResponseRoute(operation), result)) as Uint8Array<ArrayBuffer>, {
    headers: { 'content-type': 'application/octet-stream' },
  });
}
