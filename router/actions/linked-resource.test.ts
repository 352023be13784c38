/**
 * The one place a rotation's resource and admin credential are resolved (./linked-resource.ts),
 * against real storage: which resource each rule picks, and every refusal, including a linked
 * resource the requester cannot read (docs/threat-model.md: editor). The end-to-end refusals
 * through a real Router and gateway are in test/security/.
 */
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { Database } from '../../core/storage/schema.ts';
import { freshPostgresDatabase, storageBackends, testPostgresUrl } from '../../test/support/router.ts';
import { openStorage } from '../adapters/node/storage.ts';
import { resolveLinkedResource } from './linked-resource.ts';

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PosternError);
  return { code: (err as PosternError).code, message: (err as PosternError).message };
}

describe.each(storageBackends())('the linked resource of a rotation (%s)', (backend) => {
  let db: Kysely<Database>;
  let drop = async () => {};
  const me = newUid();
  const other = newUid();
  /** A folder I am a member of, and one only `other` is in. */
  const mine = newUid();
  const theirs = newUid();

  async function record(type: string, folder: string): Promise<string> {
    const uid = newUid();
    await db
      .insertInto('records')
      .values({
        uid,
        owner_uid: other,
        type,
        folder_uid: folder,
        key_type: 'folder_key',
        record_key: 'k',
        revision: 1,
        data: 'd',
        created_at: 1,
        updated_at: 1,
      })
      .execute();
    return uid;
  }
  const link = (parent: string, child: string, kind: 'credential' | 'admin_credential') =>
    db.insertInto('record_links').values({ parent_uid: parent, child_uid: child, kind, created_by: other, created_at: 1 }).execute();

  beforeAll(async () => {
    if (backend === 'postgres') {
      const fresh = await freshPostgresDatabase(testPostgresUrl()!);
      drop = fresh.drop;
      db = await openStorage({ kind: 'postgres', url: fresh.url });
    } else {
      db = await openStorage({ kind: 'sqlite', path: ':memory:' });
    }
    await db
      .insertInto('folder_members')
      .values([
        { folder_uid: mine, user_uid: me, key_type: 'ecies', wrapped_key: 'w', can_edit: 1, can_share: 0, is_owner: 0, added_at: 1 },
        { folder_uid: mine, user_uid: other, key_type: 'data_key', wrapped_key: 'w', can_edit: 1, can_share: 1, is_owner: 1, added_at: 1 },
        { folder_uid: theirs, user_uid: other, key_type: 'data_key', wrapped_key: 'w', can_edit: 1, can_share: 1, is_owner: 1, added_at: 1 },
      ])
      .execute();
  });
  afterAll(async () => {
    await db?.destroy();
    await drop();
  });

  it('takes the named resource first, then the scheduled one, then the links (account before admin)', async () => {
    const user = await record('pamUser', mine);
    const [named, scheduled, account, adminOf] = await Promise.all(['pamMachine', 'pamDatabase', 'pamDirectory', 'pamMachine'].map((t) => record(t, mine)));
    await link(account!, user, 'credential');
    await link(adminOf!, user, 'admin_credential');
    const resolve = (q: { named?: string; scheduled?: string | null }) => resolveLinkedResource(db, me, { recordUid: user, ...q });
    expect(await resolve({ named: named!, scheduled: scheduled! })).toEqual({ resourceUid: named, adminCredentialUid: null });
    expect(await resolve({ scheduled: scheduled! })).toEqual({ resourceUid: scheduled, adminCredentialUid: null });
    // The account link wins over the admin link.
    expect(await resolve({ scheduled: null })).toEqual({ resourceUid: account, adminCredentialUid: null });
    // An admin alone rotates itself on the resource it administers.
    const admin = await record('pamUser', mine);
    const host = await record('pamMachine', mine);
    await link(host, admin, 'admin_credential');
    expect(await resolveLinkedResource(db, me, { recordUid: admin })).toEqual({ resourceUid: host, adminCredentialUid: null });
  });

  it('names no resource for a pamUser linked to none, and the one admin credential of the resource', async () => {
    const user = await record('pamUser', mine);
    expect(await resolveLinkedResource(db, me, { recordUid: user })).toEqual({ resourceUid: null, adminCredentialUid: null });
    const machine = await record('pamMachine', mine);
    const admin = await record('pamUser', mine);
    await link(machine, user, 'credential');
    await link(machine, admin, 'admin_credential');
    expect(await resolveLinkedResource(db, me, { recordUid: user })).toEqual({ resourceUid: machine, adminCredentialUid: admin });
  });

  // threat model (docs/threat-model.md): editor
  it('refuses a linked resource the requester cannot read, as it refuses a named one', async () => {
    const user = await record('pamUser', mine);
    const hidden = await record('pamMachine', theirs);
    await link(hidden, user, 'credential');
    expect(await refusal(resolveLinkedResource(db, me, { recordUid: user }))).toEqual({
      code: 'not_allowed',
      message: `You do not have access to record ${hidden}.`,
    });
    expect((await refusal(resolveLinkedResource(db, me, { recordUid: newUid(), named: hidden }))).code).toBe('not_allowed');
    expect((await refusal(resolveLinkedResource(db, me, { recordUid: newUid(), scheduled: hidden }))).code).toBe('not_allowed');
    // The one who can read it gets it.
    expect(await resolveLinkedResource(db, other, { recordUid: user })).toEqual({ resourceUid: hidden, adminCredentialUid: null });
  });

  // threat model (docs/threat-model.md): editor
  it('refuses an admin credential the requester cannot read, or that is not a pamUser', async () => {
    const user = await record('pamUser', mine);
    const machine = await record('pamMachine', mine);
    const hiddenAdmin = await record('pamUser', theirs);
    await link(machine, user, 'credential');
    await link(machine, hiddenAdmin, 'admin_credential');
    expect(await refusal(resolveLinkedResource(db, me, { recordUid: user }))).toMatchObject({
      code: 'not_allowed',
      message: expect.stringContaining(`uses admin credential ${hiddenAdmin}, which you cannot read`),
    });

    const user2 = await record('pamUser', mine);
    const machine2 = await record('pamMachine', mine);
    const notAUser = await record('pamMachine', mine);
    await link(machine2, user2, 'credential');
    await link(machine2, notAUser, 'admin_credential');
    expect(await refusal(resolveLinkedResource(db, me, { recordUid: user2 }))).toMatchObject({
      code: 'bad_state',
      message: expect.stringContaining('not a pamUser'),
    });
  });

  it('refuses what it cannot choose between, and a resource rotations do not run on', async () => {
    const user = await record('pamUser', mine);
    const [a, b] = [await record('pamMachine', mine), await record('pamMachine', mine)];
    await link(a, user, 'credential');
    await link(b, user, 'credential');
    expect(await refusal(resolveLinkedResource(db, me, { recordUid: user }))).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('name one with --resource'),
    });
    // Naming one settles it.
    expect(await resolveLinkedResource(db, me, { recordUid: user, named: a })).toEqual({ resourceUid: a, adminCredentialUid: null });

    const machine = await record('pamMachine', mine);
    const user2 = await record('pamUser', mine);
    await link(machine, user2, 'credential');
    await link(machine, await record('pamUser', mine), 'admin_credential');
    await link(machine, await record('pamUser', mine), 'admin_credential');
    expect(await refusal(resolveLinkedResource(db, me, { recordUid: user2 }))).toMatchObject({
      code: 'bad_state',
      message: expect.stringContaining('link exactly one'),
    });

    const browser = await record('pamRemoteBrowser', mine);
    expect(await refusal(resolveLinkedResource(db, me, { recordUid: user, named: browser }))).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('rotations run on a pamMachine'),
    });
  });
});
