/**
 * A Router whose database is set back (an old password restored after a rotation, say) is
 * caught by the vault client: once `postern` has seen a record's newer revision, it refuses an
 * older one, or other content under the same revision, across runs of the CLI.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser } from './support.ts';

describe('postern get against a rolled-back Router database', () => {
  let router: TestRouter;
  let alice: CliUser;
  let recordUid: string;

  beforeAll(async () => {
    router = await startTestRouter();
    alice = new CliUser(router.url, 'rollback-alice@example.com');
    await alice.register();
    await alice.login();
    recordUid = (
      await alice.ok(['--json', 'record', 'add', '--type', 'login', '--title', 'db root', '--field', 'login=root', '--field-stdin', 'password'], {
        stdin: 'old-password-1\n',
      })
    ).json().uid;
    await alice.ok(['record', 'edit', recordUid, '--field-stdin', 'password'], { stdin: 'new-password-2\n' });
    // Seen once at revision 2.
    expect((await alice.ok(['get', recordUid, '--field', 'password'])).stdout).toBe('new-password-2\n');
  });
  afterAll(async () => {
    alice?.cleanup();
    await router?.stop();
  });

  async function restoreRevision(revision: number, data: number): Promise<void> {
    const old = await router.db
      .selectFrom('record_revisions')
      .select('data')
      .where('record_uid', '=', recordUid)
      .where('revision', '=', data)
      .executeTakeFirstOrThrow();
    await router.db.updateTable('records').set({ revision, data: old.data }).where('uid', '=', recordUid).execute();
  }

  it('refuses an older revision put back in the database', async () => {
    // threat model (docs/threat-model.md): database-only attacker
    await restoreRevision(1, 1);
    const [get, ls] = await Promise.all([alice.run(['--json', 'get', recordUid, '--field', 'password']), alice.run(['--json', 'ls'])]);
    for (const refused of [get, ls]) {
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.error()).toMatchObject({ code: 'rollback_detected', details: { recordUid, revision: 1, seenRevision: 2 } });
      expect(refused.error().message).toMatch(new RegExp(`record ${recordUid} at revision 1, but this client has already seen revision 2`));
    }
    expect(statSync(join(alice.home, 'seen-revisions.json')).mode & 0o777).toBe(0o600);
  });

  it('refuses old content relabelled with the revision already seen', async () => {
    // threat model (docs/threat-model.md): database-only attacker
    await restoreRevision(2, 1);
    const get = await alice.run(['--json', 'get', recordUid, '--field', 'password']);
    expect(get.code).toBe(1);
    expect(get.error()).toMatchObject({ code: 'rollback_detected', details: { recordUid, revision: 2, seenRevision: 2 } });
    expect(get.stdout).not.toContain('old-password-1');
  });

  it('accepts the record again once the database holds the real revision', async () => {
    await restoreRevision(2, 2);
    expect((await alice.ok(['get', recordUid, '--field', 'password'])).stdout).toBe('new-password-2\n');
  });
});
