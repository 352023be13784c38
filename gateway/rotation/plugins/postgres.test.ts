/**
 * The PostgreSQL rotation plugin against a real server: POSTERN_TEST_DATABASE, a superuser URL
 * that scripts/services/postgres.sh finds or starts. Every test creates its own roles (named
 * postern_rot_…) through that superuser connection and drops them afterwards.
 *
 * What a role's password is, is checked twice: against the SCRAM (or MD5) verifier the server
 * stored in pg_authid, which holds whatever pg_hba.conf says, and by a real login. A server whose
 * pg_hba.conf trusts loopback connections lets any password in. scripts/services/postgres.sh
 * therefore puts a scram-sha-256 rule for members of the group role postern_password_login ahead
 * of the rest, and every role made here joins that group when it exists. The probe below checks
 * once that a wrong password is really refused; where it is not (the group or its rule missing),
 * the real-login checks are left out and the tests that only a real login can decide (verify(), a
 * refused admin password) are skipped with that reason.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect as connectTcp, type AddressInfo, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RotationFailure, type Account, type Endpoint, type RotationTarget } from '../plugin.ts';
import { postgresPlugin } from './postgres.ts';
import { requireService } from '../../../test/support/services.ts';
import { otherCa, TEST_PG_CA_FILE } from '../../../test/rotation/tls-fixtures.ts';

const PG_URL = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');
const SKIP_REASON = ' (skipped: POSTERN_TEST_DATABASE is not set; `npm test` finds or starts PostgreSQL)';

/** The group role whose members must give their password (see scripts/services/postgres.sh). */
const PASSWORD_GROUP = 'postern_password_login';

interface Probe {
  /** `IN ROLE postern_password_login` when that group exists, else ''. */
  inGroup: string;
  /** The server refuses a wrong password on a TCP login (false: pg_hba `trust`). */
  enforced: boolean;
  /** The passwordcheck module can be loaded (policy test). */
  passwordcheck: boolean;
  /** The server has TLS turned off (useSSL test). */
  sslOff: boolean;
}

/** Ask the server once, before the tests are collected, what it can show. */
async function probe(url: string): Promise<Probe> {
  const su = new pg.Client({ connectionString: url });
  await su.connect();
  try {
    const group = await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [PASSWORD_GROUP]);
    const inGroup = group.rowCount ? `IN ROLE ${PASSWORD_GROUP}` : '';
    const role = `postern_rot_probe_${randomBytes(4).toString('hex')}`;
    await su.query(`CREATE ROLE ${role} LOGIN PASSWORD 'right-${role}' ${inGroup}`);
    let enforced: boolean;
    try {
      enforced = !(await loginWorks(new URL(url), role, `wrong-${role}`));
    } finally {
      await su.query(`DROP ROLE ${role}`);
    }
    const passwordcheck = await su.query(`LOAD 'passwordcheck'`).then(
      () => true,
      () => false,
    );
    const ssl = await su.query<{ ssl: string }>('SHOW ssl');
    return { inGroup, enforced, passwordcheck, sslOff: ssl.rows[0]?.ssl === 'off' };
  } finally {
    await su.end();
  }
}

/** A real login with `password`: true accepted, false refused as a wrong password (28P01). */
async function loginWorks(url: URL, login: string, password: string): Promise<boolean> {
  const c = new pg.Client({
    host: url.hostname,
    port: Number(url.port || 5432),
    user: login,
    password,
    database: 'postgres',
    ssl: false,
    connectionTimeoutMillis: 10_000,
  });
  c.on('error', () => {});
  let connected = false;
  try {
    await c.connect();
    connected = true;
    await c.query('select 1');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '28P01') return false;
    throw err;
  } finally {
    if (connected) await c.end();
    else c.connection.stream.destroy();
  }
}

const server = PG_URL ? await probe(PG_URL) : null;
const ENFORCED = server?.enforced ?? false;
const IN_GROUP = server?.inGroup ?? '';
const NOT_ENFORCED_REASON = !PG_URL
  ? ''
  : ` (skipped: the server accepts any password on loopback TCP logins, pg_hba.conf \`trust\`; run scripts/services/postgres.sh as root to require them for ${PASSWORD_GROUP})`;

describe.skipIf(!PG_URL)(
  `postgresPlugin on a real PostgreSQL${PG_URL ? (ENFORCED ? '' : ' (real-login checks skipped: pg_hba.conf trusts loopback; stored verifiers are checked instead)') : SKIP_REASON}`,
  () => {
    const url = new URL(PG_URL ?? 'postgres://unused');
    const endpoint: Endpoint = {
      type: 'pamDatabase',
      hostname: url.hostname,
      port: Number(url.port || 5432),
      useSSL: false,
      verifyTls: true,
      databaseType: 'postgresql',
    };
    let su: pg.Client;
    let created: string[] = [];

    beforeAll(async () => {
      su = new pg.Client({ connectionString: PG_URL! });
      await su.connect();
    });
    afterEach(async () => {
      for (const role of created.reverse()) await su.query(`DROP ROLE IF EXISTS ${su.escapeIdentifier(role)}`);
      created = [];
    });
    afterAll(async () => {
      await su?.end();
    });

    function name(what: string): string {
      return `postern_rot_${what}_${randomBytes(4).toString('hex')}`;
    }

    function password(): string {
      return `Pw-${randomBytes(9).toString('base64url')}-9`;
    }

    function account(login: string, pw: string): Account {
      return { login, credential: { kind: 'password', password: pw } };
    }

    /** A login role with `pw`, dropped after the test. */
    async function createUser(pw: string, options = ''): Promise<string> {
      const role = name('user');
      await su.query(`CREATE ROLE ${su.escapeIdentifier(role)} LOGIN PASSWORD ${su.escapeLiteral(pw)} ${options} ${IN_GROUP}`);
      created.push(role);
      return role;
    }

    /**
     * An admin with just enough privilege: CREATEROLE, and ADMIN OPTION on the users it rotates
     * (PostgreSQL 16+ requires that; on 15 it is harmless).
     */
    async function createAdmin(pw: string, rotates: string[], privileged = true): Promise<string> {
      const role = name('admin');
      await su.query(`CREATE ROLE ${su.escapeIdentifier(role)} LOGIN ${privileged ? 'CREATEROLE' : ''} PASSWORD ${su.escapeLiteral(pw)} ${IN_GROUP}`);
      created.push(role);
      if (privileged) for (const user of rotates) await su.query(`GRANT ${su.escapeIdentifier(user)} TO ${su.escapeIdentifier(role)} WITH ADMIN OPTION`);
      return role;
    }

    function makeTarget(user: Account, admin: Account | null, overrides: Partial<RotationTarget> = {}): RotationTarget & { lines: string[] } {
      const lines: string[] = [];
      return {
        endpoint,
        user,
        admin,
        options: { noop: false, kerberos: false, privateKeyRotate: true },
        signal: new AbortController().signal,
        log: (line) => lines.push(line),
        timeoutMs: 10_000,
        lines,
        ...overrides,
      };
    }

    /** The verifier the server stored for `role` is the one of `pw` (SCRAM-SHA-256 or MD5). */
    async function storedPasswordIs(role: string, pw: string): Promise<boolean> {
      const { rows } = await su.query<{ rolpassword: string | null }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
      const stored = rows[0]?.rolpassword;
      if (!stored) return false;
      if (stored.startsWith('md5'))
        return (
          stored ===
          `md5${createHash('md5')
            .update(pw + role)
            .digest('hex')}`
        );
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored);
      if (!m) throw new Error(`unexpected verifier format for ${role}`);
      const salted = pbkdf2Sync(pw, Buffer.from(m[2]!, 'base64'), Number(m[1]), 32, 'sha256');
      const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
      return storedKey === m[3];
    }

    /** `role` now has `current` and no longer `previous`: in pg_authid always, by real logins when the server checks them. */
    async function expectPassword(role: string, current: string, previous?: string): Promise<void> {
      expect(await storedPasswordIs(role, current)).toBe(true);
      if (previous !== undefined) expect(await storedPasswordIs(role, previous)).toBe(false);
      if (ENFORCED) {
        expect(await loginWorks(url, role, current)).toBe(true);
        if (previous !== undefined) expect(await loginWorks(url, role, previous)).toBe(false);
      }
    }

    async function failure(promise: Promise<unknown>): Promise<RotationFailure> {
      try {
        await promise;
      } catch (err) {
        if (err instanceof RotationFailure) return err;
        throw err;
      }
      throw new Error('expected a RotationFailure');
    }

    it('an admin rotation sets the new password; the old one no longer works', async () => {
      const [oldPw, adminPw, newPw] = [password(), password(), password()];
      const user = await createUser(oldPw);
      const admin = await createAdmin(adminPw, [user]);
      const target = makeTarget(account(user, oldPw), account(admin, adminPw));
      await postgresPlugin.change(target, { kind: 'password', password: newPw });
      await expectPassword(user, newPw, oldPw);
      expect(target.lines.join('\n')).toContain(user);
      expect(target.lines.join('\n')).toContain(`${endpoint.hostname}:${endpoint.port}`);
    });

    it('self-rotation (no admin) logs in as the user with its current password and changes it', async () => {
      const [oldPw, newPw] = [password(), password()];
      const user = await createUser(oldPw);
      await postgresPlugin.change(makeTarget(account(user, oldPw), null), { kind: 'password', password: newPw });
      await expectPassword(user, newPw, oldPw);
    });

    it('honours connectDatabase', async () => {
      const [oldPw, adminPw, newPw] = [password(), password(), password()];
      const user = await createUser(oldPw);
      const admin = await createAdmin(adminPw, [user]);
      const target = makeTarget(account(user, oldPw), { ...account(admin, adminPw), connectDatabase: 'template1' });
      await postgresPlugin.change(target, { kind: 'password', password: newPw });
      await expectPassword(user, newPw, oldPw);
      const missing = makeTarget(account(user, newPw), { ...account(admin, adminPw), connectDatabase: 'postern_no_such_db' });
      const err = await failure(postgresPlugin.change(missing, { kind: 'password', password: password() }));
      expect(err.reason).toBe('failed');
      expect(err.message).toContain('3D000');
    });

    it.skipIf(!ENFORCED)(`verify() is true for the right password and false for a wrong one${ENFORCED ? '' : NOT_ENFORCED_REASON}`, async () => {
      const pw = password();
      const user = await createUser(pw);
      const target = makeTarget(account(user, pw), null);
      expect(await postgresPlugin.verify(target, { kind: 'password', password: pw })).toBe(true);
      expect(await postgresPlugin.verify(target, { kind: 'password', password: `${pw}-wrong` })).toBe(false);
    });

    it.skipIf(!ENFORCED)(`a wrong admin password is 'admin_refused' and the user keeps its password${ENFORCED ? '' : NOT_ENFORCED_REASON}`, async () => {
      const [oldPw, adminPw, newPw] = [password(), password(), password()];
      const user = await createUser(oldPw);
      const admin = await createAdmin(adminPw, [user]);
      const err = await failure(
        postgresPlugin.change(makeTarget(account(user, oldPw), account(admin, `${adminPw}-wrong`)), { kind: 'password', password: newPw }),
      );
      expect(err.reason).toBe('admin_refused');
      expect(err.message).toContain(admin);
      expect(err.message).toContain('28P01');
      await expectPassword(user, oldPw, newPw);
    });

    it('a role that does not exist is not_found', async () => {
      const adminPw = password();
      const admin = await createAdmin(adminPw, []);
      const ghost = name('ghost');
      const err = await failure(
        postgresPlugin.change(makeTarget(account(ghost, password()), account(admin, adminPw)), { kind: 'password', password: password() }),
      );
      expect(err.reason).toBe('not_found');
      expect(err.message).toContain(ghost);
      expect(err.message).toContain('42704');
    });

    it('an admin without the privilege is admin_refused, and says so', async () => {
      const [oldPw, adminPw] = [password(), password()];
      const user = await createUser(oldPw);
      const admin = await createAdmin(adminPw, [user], false); // LOGIN only, no CREATEROLE
      const err = await failure(postgresPlugin.change(makeTarget(account(user, oldPw), account(admin, adminPw)), { kind: 'password', password: password() }));
      expect(err.reason).toBe('admin_refused');
      expect(err.message).toMatch(/lacks the privilege/);
      expect(err.message).toContain('42501');
      await expectPassword(user, oldPw);
    });

    it.skipIf(!server?.passwordcheck)(
      `a password the server's policy refuses is policy_refused${server?.passwordcheck ? '' : ' (skipped: the passwordcheck module is not installed)'}`,
      async () => {
        const [oldPw, adminPw] = [password(), password()];
        const user = await createUser(oldPw);
        const admin = await createAdmin(adminPw, [user]);
        // passwordcheck loaded into the admin's sessions only (dropped with the role): it refuses
        // passwords shorter than 8 characters with invalid_parameter_value (22023).
        await su.query(`ALTER ROLE ${su.escapeIdentifier(admin)} SET session_preload_libraries = 'passwordcheck'`);
        const err = await failure(postgresPlugin.change(makeTarget(account(user, oldPw), account(admin, adminPw)), { kind: 'password', password: 'a1!' }));
        expect(err.reason).toBe('policy_refused');
        expect(err.message).toContain('22023');
        expect(err.message).toMatch(/too short/);
        await expectPassword(user, oldPw);
      },
    );

    it('passwords with quotes, backslashes, dollars, spaces and non-ASCII rotate exactly (no SQL injection)', async () => {
      const [firstPw, adminPw] = [password(), password()];
      const user = await createUser(firstPw);
      const admin = await createAdmin(adminPw, [user]);
      const nasty = [
        `it's a "quote"`,
        'back\\slash\\',
        `'; DROP ROLE ${admin}; --`,
        `E'\\x41' \\' \\\\'`,
        '$1$dollar$$ $tag$ body $tag$',
        '  spaces  around  ',
        'ünïcödé ✓ 密码',
      ];
      let current = firstPw;
      for (const next of nasty) {
        await postgresPlugin.change(makeTarget(account(user, current), account(admin, adminPw)), { kind: 'password', password: next });
        await expectPassword(user, next, current);
        current = next;
      }
      // The injection attempt did nothing: the admin is still there.
      const { rowCount } = await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [admin]);
      expect(rowCount).toBe(1);
    });

    it('a canary password never shows in errors or log lines', async () => {
      const token = randomBytes(6).toString('hex');
      const canary = `canary-${token}-'"\\$ x`;
      const [oldPw, adminPw] = [password(), password()];
      const user = await createUser(oldPw);
      const admin = await createAdmin(adminPw, [user]);
      const lines: string[] = [];
      const errors: unknown[] = [];
      const run = async (target: RotationTarget, step: (t: RotationTarget) => Promise<unknown>) => {
        await step({ ...target, log: (line) => lines.push(line) }).catch((err: unknown) => errors.push(err));
      };
      // Success, not_found, a refused admin login, a refused verify, an unreachable host, TLS refused.
      await run(makeTarget(account(user, oldPw), account(admin, adminPw)), (t) => postgresPlugin.change(t, { kind: 'password', password: canary }));
      await run(makeTarget(account(name('ghost'), canary), account(admin, adminPw)), (t) => postgresPlugin.change(t, { kind: 'password', password: canary }));
      await run(makeTarget(account(name('ghost'), oldPw), account(admin, canary)), (t) => postgresPlugin.change(t, { kind: 'password', password: canary }));
      await run(makeTarget(account(user, canary), null), (t) => postgresPlugin.verify(t, { kind: 'password', password: `${canary}-wrong` }));
      await run(makeTarget(account(user, canary), account(admin, canary), { endpoint: { ...endpoint, hostname: '127.0.0.1', port: 1 } }), (t) =>
        postgresPlugin.change(t, { kind: 'password', password: canary }),
      );
      await run(makeTarget(account(user, canary), account(admin, canary), { endpoint: { ...endpoint, useSSL: true } }), (t) =>
        postgresPlugin.change(t, { kind: 'password', password: canary }),
      );
      expect(errors.length).toBeGreaterThanOrEqual(3);
      for (const err of errors) {
        expect(err).toBeInstanceOf(RotationFailure);
        const e = err as RotationFailure;
        for (const text of [e.message, String(e.stack), inspect(e, { depth: 5, showHidden: true }), JSON.stringify(e)]) expect(text).not.toContain(token);
      }
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain(token);
      expect(await storedPasswordIs(user, canary)).toBe(true);
    });

    it('an unreachable port is unreachable', async () => {
      const target = makeTarget(account(name('user'), password()), account(name('admin'), password()), {
        endpoint: { ...endpoint, hostname: '127.0.0.1', port: 1 },
      });
      const err = await failure(postgresPlugin.change(target, { kind: 'password', password: password() }));
      expect(err.reason).toBe('unreachable');
      expect(err.message).toContain('127.0.0.1:1');
      const verifyErr = await failure(postgresPlugin.verify(target, { kind: 'password', password: password() }));
      expect(verifyErr.reason).toBe('unreachable');
    });

    it.skipIf(!server?.sslOff)(
      `useSSL against a server without TLS fails clearly instead of hanging${server?.sslOff ? '' : ' (skipped: the server has TLS on)'}`,
      async () => {
        const pw = password();
        const user = await createUser(pw);
        const target = makeTarget(account(user, pw), null, { endpoint: { ...endpoint, useSSL: true } });
        const err = await failure(postgresPlugin.change(target, { kind: 'password', password: password() }));
        expect(['unreachable', 'failed']).toContain(err.reason);
        expect(err.message).toMatch(/TLS/);
        expect((await failure(postgresPlugin.verify(target, { kind: 'password', password: pw }))).message).toMatch(/TLS/);
        await expectPassword(user, pw);
      },
    );

    describe('against a server that accepts TCP and never answers', () => {
      let silent: Server;
      const sockets = new Set<Socket>();
      let silentEndpoint: Endpoint;
      beforeAll(async () => {
        silent = createServer((s) => {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
        });
        await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
        const addr = silent.address();
        if (!addr || typeof addr === 'string') throw new Error('no port');
        silentEndpoint = { ...endpoint, hostname: '127.0.0.1', port: addr.port };
      });
      afterAll(async () => {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent?.close(resolve));
      });

      it('the connect timeout (target.timeoutMs) ends the wait as unreachable', async () => {
        const target = makeTarget(account('nobody', password()), null, { endpoint: silentEndpoint, timeoutMs: 300 });
        const err = await failure(postgresPlugin.verify(target, { kind: 'password', password: password() }));
        expect(err.reason).toBe('unreachable');
      });

      it('cancelling the job stops the wait and closes the socket', async () => {
        const controller = new AbortController();
        // A timeout far beyond the test's: only the abort can end this.
        const target = makeTarget(account('nobody', password()), null, { endpoint: silentEndpoint, timeoutMs: 600_000, signal: controller.signal });
        const accepted = new Promise<Socket>((resolve) => silent.once('connection', resolve));
        const pending = failure(postgresPlugin.change(target, { kind: 'password', password: password() }));
        const socket = await accepted;
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        controller.abort();
        const err = await pending;
        expect(err.reason).toBe('failed');
        expect(err.message).toMatch(/cancelled/);
        await closed;
      });

      it('an already cancelled job does not connect at all', async () => {
        const controller = new AbortController();
        controller.abort();
        const before = sockets.size;
        const err = await failure(
          postgresPlugin.verify(makeTarget(account('nobody', password()), null, { endpoint: silentEndpoint, signal: controller.signal }), {
            kind: 'password',
            password: password(),
          }),
        );
        expect(err.message).toMatch(/cancelled before connecting/);
        expect(sockets.size).toBe(before);
      });
    });

    it('refuses what it cannot set: a key, an empty password, a password shaped like a stored hash', async () => {
      const pw = password();
      const target = makeTarget(account(name('user'), pw), null);
      expect((await failure(postgresPlugin.change(target, { kind: 'key', privateKey: 'x', publicKey: 'y' }))).reason).toBe('unsupported');
      expect((await failure(postgresPlugin.change(target, { kind: 'password', password: '' }))).reason).toBe('policy_refused');
      const md5Like = `md5${createHash('md5').update('x').digest('hex')}`;
      expect((await failure(postgresPlugin.change(target, { kind: 'password', password: md5Like }))).reason).toBe('policy_refused');
    });

    describe('TLS (docs/decisions/0006-target-trust.md)', () => {
      const caFile = TEST_PG_CA_FILE;
      const testCa = !server?.sslOff && existsSync(caFile) ? readFileSync(caFile, 'utf8') : null;
      const noTls = server?.sslOff
        ? ' (skipped: the server has TLS off; scripts/services/postgres.sh turns it on)'
        : !testCa
          ? ` (skipped: no test CA at ${caFile})`
          : '';

      /**
       * A man in the middle that answers PostgreSQL's SSLRequest with "no SSL here" ('N') and then
       * relays the plaintext session to the real server: what an active attacker can do to `prefer`.
       */
      async function strippingProxy(): Promise<{ port: number; close(): Promise<void> }> {
        const sockets = new Set<Socket>();
        const proxy = createServer((client) => {
          sockets.add(client);
          client.once('data', (first: Buffer) => {
            const isSslRequest = first.length >= 8 && first.readUInt32BE(0) === 8 && first.readUInt32BE(4) === 80877103;
            const upstream = connectTcp({ host: url.hostname, port: Number(url.port || 5432) });
            sockets.add(upstream);
            upstream.on('error', () => client.destroy());
            client.on('error', () => upstream.destroy());
            if (isSslRequest) {
              client.write('N');
              if (first.length > 8) upstream.write(first.subarray(8));
            } else upstream.write(first);
            client.pipe(upstream).pipe(client);
          });
        });
        await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
        return {
          port: (proxy.address() as AddressInfo).port,
          close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), proxy.close(() => r()))),
        };
      }

      it.skipIf(!!noTls)(`uses TLS when the server offers it, verifying against the resource's CA when one is set${noTls}`, async () => {
        const old = password();
        const user = await createUser(old);
        const adminPw = password();
        const adminAccount = account(await createAdmin(adminPw, [user]), adminPw);
        const opportunistic = makeTarget(account(user, old), adminAccount, { endpoint: { ...endpoint, preferTls: true, verifyTls: false } });
        const next = password();
        await postgresPlugin.change(opportunistic, { kind: 'password', password: next });
        expect(opportunistic.lines.join('\n')).toContain('TLS (not verified: no CA set)');
        await expectPassword(user, next, old);

        const pinned = makeTarget(account(user, next), adminAccount, { endpoint: { ...endpoint, preferTls: true, verifyTls: true, caCertificate: testCa! } });
        await postgresPlugin.checkTarget!(pinned);
        const third = password();
        await postgresPlugin.change(pinned, { kind: 'password', password: third });
        expect(await postgresPlugin.verify(pinned, { kind: 'password', password: third })).toBe(true);
        expect(pinned.lines.join('\n')).toContain("TLS (certificate verified against the resource's CA)");
        await expectPassword(user, third, next);
      });

      // threat model (docs/threat-model.md): gateway — an impostor database (wrong certificate) must not receive the admin password
      it.skipIf(!!noTls)(
        `refuses a server whose certificate does not chain to the resource's CA, and never falls back to plaintext for it${noTls}`,
        async () => {
          const old = password();
          const user = await createUser(old);
          const target = makeTarget(account(user, old), null, { endpoint: { ...endpoint, preferTls: true, verifyTls: true, caCertificate: otherCa() } });
          // The rotation's check before step 1: only an SSLRequest and a handshake, refused.
          const early = await failure(postgresPlugin.checkTarget!(target));
          expect(early.reason).toBe('unreachable');
          expect(early.message).toMatch(/TLS handshake with .* failed .*; nothing was sent/);
          const err = await failure(postgresPlugin.change(target, { kind: 'password', password: password() }));
          expect(err.reason).toBe('unreachable');
          expect(err.message).toMatch(/TLS handshake with .* failed .*must chain to the resource's CA \(sslCaCertificate\)/);
          expect(target.lines.join('\n')).not.toMatch(/plaintext/);
          await expectPassword(user, old);
        },
      );

      it('falls back to plaintext only when the server says it has no TLS, says so, and never with useSSL (an active attacker can force the fallback)', async () => {
        const proxy = await strippingProxy();
        try {
          const old = password();
          const user = await createUser(old);
          const via = { ...endpoint, port: proxy.port };
          const preferring = makeTarget(account(user, old), null, { endpoint: { ...via, preferTls: true } });
          await postgresPlugin.checkTarget!(preferring);
          const next = password();
          await postgresPlugin.change(preferring, { kind: 'password', password: next });
          expect(preferring.lines.join('\n')).toContain('plaintext: the server offers no TLS');
          await expectPassword(user, next, old);

          const requiring = makeTarget(account(user, next), null, { endpoint: { ...via, useSSL: true } });
          expect((await failure(postgresPlugin.checkTarget!(requiring))).message).toMatch(/does not offer TLS, and this resource requires it \(useSSL\)/);
          const err = await failure(postgresPlugin.change(requiring, { kind: 'password', password: password() }));
          expect(err.message).toMatch(/does not offer TLS, and this resource requires it \(useSSL\)/);
          await expectPassword(user, next);

          const off = makeTarget(account(user, next), null);
          expect(await postgresPlugin.verify(off, { kind: 'password', password: next })).toBe(true);
          expect(off.lines.join('\n')).toContain('plaintext: useSSL is false');
        } finally {
          await proxy.close();
        }
      });
    });
  },
);
