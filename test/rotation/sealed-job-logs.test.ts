/**
 * Job logs are sealed to the readers of the record they are about: a real rotation through the
 * `postern` CLI and a real `postern-gateway` against the test sshd, on a machine named by a
 * canary host (127.0.0.1 written as the number 2130706433) with canary logins. The CLI shows
 * the hosts and logins, live and in `job show --json`; the Router's database (every table, the
 * SQLite file and its WAL) and its log never contain them. Someone the Router lets see the job
 * but who cannot read the record sees sealed lines; someone who cannot read the record at all
 * is refused the job.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultTransport } from '../../core/vault-client/index.ts';
import { CliUser } from '../cli/support.ts';
import { RotationLab } from './lab.ts';
import { sshTarget } from './targets/ssh.ts';

const CANARY_HOST = '2130706433';

describe.skipIf(sshTarget.unavailable !== null)(
  `sealed job logs (CLI, gateway, real sshd)${sshTarget.unavailable ? ` — skipped: ${sshTarget.unavailable}` : ''}`,
  () => {
    let lab: RotationLab;
    const password = 'Sealed-Logs-Initial-7c1e!';
    const port = Number(sshTarget.resource().fields['port']);
    const resource = () => newRecordData('pamMachine', 'canary machine', { hostname: CANARY_HOST, port, operatingSystem: 'linux' });

    beforeAll(async () => {
      await sshTarget.setup();
      lab = await RotationLab.start('sealedlogs');
      await lab.startGateway();
    });

    afterAll(async () => {
      await lab?.close();
      await sshTarget.cleanup();
    });

    /** Every text the Router keeps: each table's rows, the SQLite file and WAL bytes, and its log. */
    async function routerText(): Promise<string> {
      const db = lab.router.db;
      const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db);
      const rows: string[] = [];
      for (const { name } of tables.rows) {
        const all = await sql.raw<Record<string, unknown>>(`select * from "${name.replace(/"/g, '""')}"`).execute(db);
        rows.push(JSON.stringify(all.rows, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v)));
      }
      const files = [lab.router.database, `${lab.router.database}-wal`, join(lab.router.dataDir, 'logs', 'router.log')];
      return [...rows, ...files.filter(existsSync).map((f) => readFileSync(f).toString('latin1'))].join('\n');
    }

    async function lastJob(): Promise<string> {
      const list = await lab.admin.ok(['--json', 'job', 'list', '--limit', '1']);
      return list.json().jobs[0].jobUid as string;
    }

    it('the CLI shows hosts and logins, live and in job show; the Router keeps none of them', async () => {
      // threat model (docs/threat-model.md): database-only attacker
      const user = await sshTarget.newUser(password);
      const admin = sshTarget.admin();
      const { userUid } = await lab.addTarget({ resource: resource(), admin, user: { ...user, password } });

      const run = await lab.rotate(userUid);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      // The live lines, opened by the CLI with the pamUser's key.
      expect(run.stdout).toContain(`Step 2/4: changing the credential of "${user.login}" on ${CANARY_HOST}:${port} (ssh, as ${admin.login})`);
      expect(await sshTarget.canLogin(user, await lab.password(userUid))).toBe(true);

      const jobUid = await lastJob();
      // The Router: status, progress and step names in plaintext; lines and the message sealed.
      const text = await routerText();
      for (const canary of [user.login, admin.login, CANARY_HOST]) expect(text).not.toContain(canary);
      const row = await lab.router.db.selectFrom('jobs').selectAll().where('uid', '=', jobUid).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'finished', step: 'done', message: expect.stringMatching(/^sealed:v1:m:/) });
      const lines = await lab.router.db.selectFrom('job_logs').select('line').where('job_uid', '=', jobUid).orderBy('seq').execute();
      expect(lines.filter((l) => l.line.startsWith('sealed:v1:')).length).toBeGreaterThanOrEqual(5);

      // What the pamUser's readers see: everything, opened by the CLI.
      const show = await lab.admin.ok(['--json', 'job', 'show', jobUid]);
      const doc = show.json() as { job: { status: string; message: string; step: string }; logs: { line: string; sealed: boolean }[] };
      expect(doc.job.status).toBe('finished');
      expect(doc.job.message).not.toMatch(/sealed/);
      expect(doc.logs).toContainEqual(expect.objectContaining({ sealed: true, line: expect.stringContaining(`"${user.login}" on ${CANARY_HOST}:${port}`) }));
      expect(doc.logs.filter((l) => l.line.startsWith('(sealed'))).toEqual([]);
    });

    it('a failure keeps its code readable by the Router and its message sealed; without the record key the CLI says so', async () => {
      // threat model (docs/threat-model.md): database-only attacker
      const user = await sshTarget.newUser(password);
      const admin = { ...sshTarget.admin(), password: 'not-the-admin-password-9' };
      const { userUid } = await lab.addTarget({ resource: resource(), admin, user: { ...user, password } });

      const run = await lab.rotate(userUid);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/failed: admin_refused: .*/);
      expect(run.stdout).toContain(`"${user.login}" on ${CANARY_HOST}:${port}`);
      const jobUid = await lastJob();
      const row = await lab.router.db.selectFrom('jobs').selectAll().where('uid', '=', jobUid).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'failed', message: expect.stringMatching(/^admin_refused: sealed:v1:m:[\w-]+$/) });
      const text = await routerText();
      for (const canary of [user.login, admin.login, CANARY_HOST]) expect(text).not.toContain(canary);

      // threat model (docs/threat-model.md): editor — the job's owner no longer reads the record
      await lab.vault.deleteRecord(userUid);
      const show = await lab.admin.ok(['--json', 'job', 'show', jobUid]);
      const doc = show.json() as { job: { message: string }; logs: { line: string; sealed: boolean }[] };
      expect(doc.job.message).toBe(`admin_refused: (sealed: you cannot read record ${userUid})`);
      const sealed = doc.logs.filter((l) => l.sealed);
      expect(sealed.length).toBeGreaterThan(0);
      for (const l of sealed) expect(l.line).toBe(`(sealed: you cannot read record ${userUid})`);
      expect(show.stdout).not.toContain(user.login);
    });

    it('refuses the job to a user who cannot read the pamUser', async () => {
      // threat model (docs/threat-model.md): viewer — of other records only
      const user = await sshTarget.newUser(password);
      const { userUid } = await lab.addTarget({ resource: resource(), admin: sshTarget.admin(), user: { ...user, password } });
      expect((await lab.rotate(userUid)).code).toBe(0);
      const jobUid = await lastJob();
      const outsider = new CliUser(lab.router.url, 'sealed-logs-outsider@example.com');
      try {
        const { code } = await lab.vault.addInvitation(outsider.email);
        await registerAccount(await VaultTransport.connect(outsider.server), outsider.email, outsider.password, { invitation: code });
        await outsider.loginWithSdk();
        const show = await outsider.run(['--json', 'job', 'show', jobUid]);
        expect(show.code).toBe(1);
        expect(show.error()).toMatchObject({ code: 'not_allowed' });
        expect(show.stdout + show.stderr).not.toContain(user.login);
      } finally {
        outsider.cleanup();
      }
    });
  },
);
