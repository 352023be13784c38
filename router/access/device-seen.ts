/**
 * When a device's (or gateway's) `last_seen_at` is written: each request or connection used to
 * rewrite it, one disk-synced commit each. Now it moves when it is a minute stale, and at once
 * when the IP lock binds to the device's first address.
 */
import type { Kysely } from 'kysely';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { Database } from '../../core/storage/schema.ts';

export const LAST_SEEN_STEP_MS = 60 * 1000;

export async function markDeviceSeen(
  db: Kysely<Database>,
  device: { uid: string; last_seen_at: number | null; ip_lock: number; locked_ip: string | null },
  clientIp: string,
  now: number,
): Promise<void> {
  const bindIp = device.ip_lock === 1 && device.locked_ip === null;
  const stale = device.last_seen_at === null || now - Number(device.last_seen_at) >= LAST_SEEN_STEP_MS;
  if (!stale && !bindIp) return;
  if (bindIp) await bindLockedIp.execute(db, { uid: device.uid, now, clientIp });
  else await touchLastSeen.execute(db, { uid: device.uid, now });
}

// On every device request and gateway connection that finds the time stale: prepared
// (core/storage/prepared.ts). The timestamp alone commits without a disk sync; with the IP lock
// it does not (router/adapters/node/sqlite.ts).
const touchLastSeen = prepareQuery<Database, { uid: string; now: number }>()((db, $) =>
  db.updateTable('devices').set({ last_seen_at: $.now }).where('uid', '=', $.uid),
);
const bindLockedIp = prepareQuery<Database, { uid: string; now: number; clientIp: string }>()((db, $) =>
  db.updateTable('devices').set({ last_seen_at: $.now, locked_ip: $.clientIp }).where('uid', '=', $.uid),
);
