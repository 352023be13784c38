/**
 * A device (or gateway) by the client id it presents, and its application: read on every
 * secrets request and every gateway connection, so prepared (core/storage/prepared.ts).
 */
import type { Kysely, Selectable } from 'kysely';
import { sha256, toBase64Url } from '../../core/crypto/index.ts';
import { prepareQuery } from '../../core/storage/prepared.ts';
import type { ApplicationsTable, Database, DevicesTable } from '../../core/storage/schema.ts';

const deviceByClientIdHash = prepareQuery<Database, { clientIdHash: string }>()((db, $) =>
  db.selectFrom('devices').selectAll().where('client_id_hash', '=', $.clientIdHash),
);
const applicationByUid = prepareQuery<Database, { uid: string }>()((db, $) => db.selectFrom('applications').selectAll().where('uid', '=', $.uid));

/** The device whose client id this is; the Router stores only the id's SHA-256. */
export function findDeviceByClientId(db: Kysely<Database>, clientId: Uint8Array): Promise<Selectable<DevicesTable> | undefined> {
  return deviceByClientIdHash.first(db, { clientIdHash: toBase64Url(sha256(clientId)) });
}

export function findApplication(db: Kysely<Database>, uid: string): Promise<Selectable<ApplicationsTable> | undefined> {
  return applicationByUid.first(db, { uid });
}
