/**
 * The one place a rotation's resource and admin credential are resolved (decision record:
 * docs/decisions/0015-action-contract.md). The Router holds the links between records and the access
 * rules, so it decides; the gateway uses exactly what is named here, or nothing, and only checks
 * that the records it fetched agree (gateway/rotation/engine.ts refuses, never chooses).
 *
 * The rule, in order:
 *   1. the resource: the one the caller named (`--resource`), else, when the rotation goes by the
 *      pamUser's rotation settings (no configuration named), the resource those settings name
 *      (`postern rotation set --resource`), else the one resource that links the
 *      pamUser as its account (`credential`), else the one that links it as its admin
 *      (`admin_credential`: it then rotates itself there). Several at one step → the caller must
 *      name one. None → no resource (the gateway then refuses, unless the rotation is NOOP).
 *   2. the requester must be able to read the resource, and it must be a rotation resource.
 *   3. the admin credential: the resource's one `admin_credential` link other than the pamUser
 *      (the vault publishes pamSettings.adminCredentialUid as that link); none → the pamUser
 *      rotates itself. The requester must be able to read it: a resource anyone made cannot
 *      borrow someone else's admin.
 */
import type { Kysely } from 'kysely';
import { PosternError } from '../../core/errors.ts';
import { isRotationResourceType, type ActionParams } from '../../core/protocol/actions.ts';
import type { Database } from '../../core/storage/schema.ts';
import { findUserRecordAccess, requireReadableRecord } from '../access/records.ts';

/** What the gateway is told: the resource and admin credential it may use (null: none). */
export type LinkedResource = Pick<ActionParams<'rotate'>, 'resourceUid' | 'adminCredentialUid'>;

export interface LinkedResourceQuery {
  /** The pamUser. */
  recordUid: string;
  /** The resource the caller named beside the action. */
  named?: string | undefined;
  /** The resource of the pamUser's rotation settings, when the action goes by them. */
  scheduled?: string | null | undefined;
}

export async function resolveLinkedResource(db: Kysely<Database>, userUid: string, query: LinkedResourceQuery): Promise<LinkedResource> {
  const resourceUid = query.named ?? query.scheduled ?? (await linkedResourceOf(db, query.recordUid));
  if (!resourceUid) return { resourceUid: null, adminCredentialUid: null };
  const resource = await requireReadableRecord(db, userUid, resourceUid);
  if (!isRotationResourceType(resource.record.type)) {
    throw new PosternError('bad_request', `Record ${resourceUid} is a ${resource.record.type}; rotations run on a pamMachine, pamDatabase or pamDirectory.`, {
      recordUid: resourceUid,
    });
  }
  return { resourceUid, adminCredentialUid: await authorisedAdminCredential(db, userUid, resourceUid, query.recordUid) };
}

/** Step 1 without a named or scheduled resource: from the links the Router holds (`postern record add … --link`). */
async function linkedResourceOf(db: Kysely<Database>, recordUid: string): Promise<string | null> {
  const links = await db.selectFrom('record_links').select(['parent_uid', 'kind']).where('child_uid', '=', recordUid).execute();
  for (const kind of ['credential', 'admin_credential']) {
    const parents = [...new Set(links.filter((l) => l.kind === kind).map((l) => l.parent_uid))];
    if (parents.length > 1) {
      throw new PosternError(
        'bad_request',
        `pamUser ${recordUid} is linked to ${parents.length} resources (${parents.join(', ')}); name one with --resource.`,
        { recordUid },
      );
    }
    if (parents[0]) return parents[0];
  }
  return null;
}

/** Step 3. */
async function authorisedAdminCredential(db: Kysely<Database>, userUid: string, resourceUid: string, pamUserUid: string): Promise<string | null> {
  const admins = await db.selectFrom('record_links').select('child_uid').where('parent_uid', '=', resourceUid).where('kind', '=', 'admin_credential').execute();
  const candidates = [...new Set(admins.map((a) => a.child_uid))].filter((uid) => uid !== pamUserUid);
  if (candidates.length > 1)
    throw new PosternError('bad_state', `Resource ${resourceUid} names ${candidates.length} admin credentials; link exactly one (\`postern record link\`).`, {
      recordUid: resourceUid,
    });
  const adminUid = candidates[0];
  if (!adminUid) return null;
  const access = await findUserRecordAccess(db, userUid, adminUid);
  if (!access) {
    throw new PosternError(
      'not_allowed',
      `Resource ${resourceUid} uses admin credential ${adminUid}, which you cannot read; a rotation may use only credentials its requester has access to.`,
      {
        recordUid: adminUid,
      },
    );
  }
  if (access.record.type !== 'pamUser')
    throw new PosternError('bad_state', `The admin credential ${adminUid} of resource ${resourceUid} is a ${access.record.type}, not a pamUser.`, {
      recordUid: adminUid,
    });
  return adminUid;
}
