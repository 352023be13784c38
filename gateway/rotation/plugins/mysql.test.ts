/**
 * The MySQL/MariaDB rotation plugin against a real server: POSTERN_TEST_MYSQL, an account with
 * every privilege (root) that scripts/services/mariadb.sh finds or starts. Every test creates its
 * own accounts (named postern_rot_…, host '%' unless said otherwise) through that connection
 * and drops them afterwards; no test alters an account it did not create.
 *
 * Two tests change server-wide state for a moment and put it back in `finally`, because MariaDB
 * has no narrower switch for either: the password-policy test installs simple_password_check
 * (unless it is already installed) and at once relaxes it to refuse only passwords shorter than
 * 4 characters, and the NO_BACKSLASH_ESCAPES test sets the global sql_mode around two statements.
 * Other suites on the same server (test/rotation) run in parallel processes; these windows are
 * kept that small, and limited to what those suites never send, so that they do not notice.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import mysql from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RotationFailure, type Account, type Endpoint, type RotationTarget } from '../plugin.ts';
import { mysqlAccount, mysqlPlugin } from './mysql.ts';
import { requireService } from '../../../test/support/services.ts';

const MYSQL_URL = requireService('MariaDB', 'POSTERN_TEST_MYSQL');
const SKIP_REASON = ' (skipped: POSTERN_TEST_MYSQL is not set; `npm test` finds or starts MariaDB through scripts/services/mariadb.sh)';

interface Probe {
  mariadb: boolean;
  /** simple_password_check is installed or can be installed (policy test). */
  passwordCheck: 'installed' | 'installable' | 'unavailable';
  /** The server offers no TLS (useSSL test). */
  sslOff: boolean;
}

async function probe(url: string): Promise<Probe> {
  const root = await mysql.createConnection(url);
  try {
    const [[v]] = await root.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version');
    const mariadb = /mariadb/i.test(String(v?.['version']));
    let passwordCheck: Probe['passwordCheck'] = 'unavailable';
    if (mariadb) {
      const [rows] = await root.query<mysql.RowDataPacket[]>(
        "SELECT PLUGIN_STATUS AS status FROM information_schema.ALL_PLUGINS WHERE PLUGIN_NAME = 'simple_password_check'",
      );
      if (rows[0]) passwordCheck = rows[0]['status'] === 'ACTIVE' ? 'installed' : 'installable';
    }
    const sslOff = await root.query<mysql.RowDataPacket[]>('SELECT @@have_ssl AS have_ssl').then(
      ([rows]) => rows[0]?.['have_ssl'] !== 'YES',
      () => false, // MySQL 8.4 dropped have_ssl; do not guess
    );
    return { mariadb, passwordCheck, sslOff };
  } finally {
    await root.end();
  }
}

const server = MYSQL_URL ? await probe(MYSQL_URL) : null;

describe('mysqlAccount', () => {
  it('takes host % for a plain name and splits name@host at the last @', () => {
    expect(mysqlAccount('app')).toEqual({ name: 'app', host: '%' });
    expect(mysqlAccount('app@10.0.%')).toEqual({ name: 'app', host: '10.0.%' });
    expect(mysqlAccount('me@example.com@%')).toEqual({ name: 'me@example.com', host: '%' });
    expect(mysqlAccount(`'app'@'localhost'`)).toEqual({ name: 'app', host: 'localhost' });
    expect(mysqlAccount('`app`@`%`')).toEqual({ name: 'app', host: '%' });
    expect(mysqlAccount('trailing@')).toEqual({ name: 'trailing@', host: '%' });
  });
});

describe.skipIf(!MYSQL_URL)(`mysqlPlugin on a real MySQL/MariaDB${MYSQL_URL ? '' : SKIP_REASON}`, () => {
  const url = new URL(MYSQL_URL ?? 'mysql://unused');
  const endpoint: Endpoint = {
    type: 'pamDatabase',
    hostname: url.hostname,
    port: Number(url.port || 3306),
    useSSL: false,
    verifyTls: true,
    databaseType: 'mysql',
  };
  let root: mysql.Connection;
  let created: { name: string; host: string }[] = [];

  beforeAll(async () => {
    root = await mysql.createConnection(MYSQL_URL!);
  });
  afterEach(async () => {
    for (const a of created) await root.query('DROP USER IF EXISTS ?@?', [a.name, a.host]);
    created = [];
  });
  afterAll(async () => {
    await root?.end();
  });

  function name(what: string): string {
    return `postern_rot_${what}_${randomBytes(4).toString('hex')}`;
  }

  /** Upper, lower, digit and other characters, so that it also passes simple_password_check. */
  function password(): string {
    return `Pw-${randomBytes(9).toString('base64url')}-9`;
  }

  function account(login: string, pw: string): Account {
    return { login, credential: { kind: 'password', password: pw } };
  }

  async function createUser(pw: string, host = '%'): Promise<string> {
    const user = name('user');
    await root.query('CREATE USER ?@? IDENTIFIED BY ?', [user, host, pw]);
    created.push({ name: user, host });
    return user;
  }

  /** An admin with just enough privilege to change other accounts' passwords: CREATE USER. */
  async function createAdmin(pw: string, privileged = true): Promise<string> {
    const admin = name('admin');
    await root.query('CREATE USER ?@? IDENTIFIED BY ?', [admin, '%', pw]);
    created.push({ name: admin, host: '%' });
    if (privileged) await root.query('GRANT CREATE USER ON *.* TO ?@?', [admin, '%']);
    return admin;
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

  /** A real login: true accepted, false refused as a wrong password (1045). */
  async function loginWorks(user: string, pw: string): Promise<boolean> {
    let c: mysql.Connection;
    try {
      c = await mysql.createConnection({ host: endpoint.hostname, port: endpoint.port, user, password: pw, connectTimeout: 10_000 });
    } catch (err) {
      if ((err as { errno?: number }).errno === 1045) return false;
      throw err;
    }
    try {
      await c.query('SELECT 1');
      return true;
    } finally {
      await c.end();
    }
  }

  async function expectPassword(user: string, current: string, previous?: string): Promise<void> {
    expect(await loginWorks(user, current)).toBe(true);
    if (previous !== undefined) expect(await loginWorks(user, previous)).toBe(false);
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

  it('an admin rotation sets the new password; the old one is refused', async () => {
    const [oldPw, adminPw, newPw] = [password(), password(), password()];
    const user = await createUser(oldPw);
    const admin = await createAdmin(adminPw);
    const target = makeTarget(account(user, oldPw), account(admin, adminPw));
    await mysqlPlugin.change(target, { kind: 'password', password: newPw });
    await expectPassword(user, newPw, oldPw);
    expect(target.lines.join('\n')).toContain(`'${user}'@'%'`);
    expect(target.lines.join('\n')).toContain(`${endpoint.hostname}:${endpoint.port}`);
  });

  it('self-rotation (no admin) changes the account it logged in as', async () => {
    const [oldPw, newPw] = [password(), password()];
    const user = await createUser(oldPw);
    await mysqlPlugin.change(makeTarget(account(user, oldPw), null), { kind: 'password', password: newPw });
    await expectPassword(user, newPw, oldPw);
  });

  it('a login written name@host rotates that account (here host 127.0.0.1, not %)', async () => {
    const [oldPw, adminPw, newPw] = [password(), password(), password()];
    const user = await createUser(oldPw, '127.0.0.1');
    const admin = await createAdmin(adminPw);
    await mysqlPlugin.change(makeTarget(account(`${user}@127.0.0.1`, oldPw), account(admin, adminPw)), { kind: 'password', password: newPw });
    await expectPassword(user, newPw, oldPw);
    expect(await mysqlPlugin.verify(makeTarget(account(`${user}@127.0.0.1`, newPw), null), { kind: 'password', password: newPw })).toBe(true);
    // The same name without the host part means 'name'@'%', which does not exist.
    const err = await failure(mysqlPlugin.change(makeTarget(account(user, newPw), account(admin, adminPw)), { kind: 'password', password: password() }));
    expect(err.reason).toBe('not_found');
    expect(err.message).toContain('name@host');
  });

  it('verify() is true for the right password and false for a wrong one or an unknown account', async () => {
    const pw = password();
    const user = await createUser(pw);
    const target = makeTarget(account(user, pw), null);
    expect(await mysqlPlugin.verify(target, { kind: 'password', password: pw })).toBe(true);
    expect(await mysqlPlugin.verify(target, { kind: 'password', password: `${pw}-wrong` })).toBe(false);
    expect(await mysqlPlugin.verify(makeTarget(account(name('ghost'), pw), null), { kind: 'password', password: pw })).toBe(false);
  });

  it("a wrong admin password is 'admin_refused' and the user keeps its password", async () => {
    const [oldPw, adminPw, newPw] = [password(), password(), password()];
    const user = await createUser(oldPw);
    const admin = await createAdmin(adminPw);
    const err = await failure(mysqlPlugin.change(makeTarget(account(user, oldPw), account(admin, `${adminPw}-wrong`)), { kind: 'password', password: newPw }));
    expect(err.reason).toBe('admin_refused');
    expect(err.message).toContain(admin);
    expect(err.message).toContain('1045');
    await expectPassword(user, oldPw, newPw);
  });

  it('an account that does not exist is not_found', async () => {
    const adminPw = password();
    const admin = await createAdmin(adminPw);
    const ghost = name('ghost');
    const err = await failure(mysqlPlugin.change(makeTarget(account(ghost, password()), account(admin, adminPw)), { kind: 'password', password: password() }));
    expect(err.reason).toBe('not_found');
    expect(err.message).toContain(`'${ghost}'@'%'`);
    expect(err.message).toContain('1396');
  });

  it('an admin without CREATE USER is admin_refused, and says so', async () => {
    const [oldPw, adminPw] = [password(), password()];
    const user = await createUser(oldPw);
    const admin = await createAdmin(adminPw, false);
    const err = await failure(mysqlPlugin.change(makeTarget(account(user, oldPw), account(admin, adminPw)), { kind: 'password', password: password() }));
    expect(err.reason).toBe('admin_refused');
    expect(err.message).toMatch(/lacks the privilege/);
    expect(err.message).toContain('1227');
    await expectPassword(user, oldPw);
  });

  it.skipIf(server?.passwordCheck === 'unavailable')(
    `a password the server's policy refuses is policy_refused${server?.passwordCheck === 'unavailable' ? ' (skipped: MariaDB simple_password_check is not available on this server)' : ''}`,
    async () => {
      const [oldPw, adminPw] = [password(), password()];
      const user = await createUser(oldPw);
      const admin = await createAdmin(adminPw);
      const install = server?.passwordCheck === 'installable';
      if (install) {
        // Server-wide while installed. Its defaults (8+ characters, both cases, a digit, another
        // character) would refuse other suites' passwords; only "shorter than 4" stays.
        await root.query("INSTALL SONAME 'simple_password_check'");
        await root.query(
          'SET GLOBAL simple_password_check_digits = 0, GLOBAL simple_password_check_letters_same_case = 0, GLOBAL simple_password_check_other_characters = 0, GLOBAL simple_password_check_minimal_length = 4',
        );
      }
      try {
        // MariaDB reports this ALTER USER as 1396 with the 1819 conditions behind it.
        const err = await failure(mysqlPlugin.change(makeTarget(account(user, oldPw), account(admin, adminPw)), { kind: 'password', password: 'a1!' }));
        expect(err.reason).toBe('policy_refused');
        expect(err.message).toContain('1819');
        // Self-rotation goes through SET PASSWORD on MariaDB, which the plugin checks as well.
        const self = await failure(mysqlPlugin.change(makeTarget(account(user, oldPw), null), { kind: 'password', password: 'w1' }));
        expect(self.reason).toBe('policy_refused');
        // A compliant one still goes through.
        const good = password();
        await mysqlPlugin.change(makeTarget(account(user, oldPw), account(admin, adminPw)), { kind: 'password', password: good });
        await expectPassword(user, good, oldPw);
      } finally {
        if (install) await root.query("UNINSTALL SONAME 'simple_password_check'");
      }
    },
  );

  const nasty = [
    `it's a "quote"`,
    'back\\slash\\',
    `x\\' OR 1=1 -- `,
    `'; DROP USER 'postern_rot_nobody'@'%'; --`,
    `\\\\'\\"`,
    '$1$dollar$$',
    '  spaces  around  ',
    'ünïcödé ✓ 密码',
  ];

  it('passwords with quotes, backslashes, dollars, spaces and non-ASCII rotate exactly (no SQL injection)', async () => {
    const [firstPw, adminPw] = [password(), password()];
    const user = await createUser(firstPw);
    const admin = await createAdmin(adminPw);
    let current = firstPw;
    for (const next of nasty) {
      await mysqlPlugin.change(makeTarget(account(user, current), account(admin, adminPw)), { kind: 'password', password: next });
      await expectPassword(user, next, current);
      current = next;
    }
    // And the same through self-rotation (SET PASSWORD on MariaDB, ALTER USER CURRENT_USER() on MySQL).
    for (const next of nasty.slice(0, -1).reverse()) {
      await mysqlPlugin.change(makeTarget(account(user, current), null), { kind: 'password', password: next });
      await expectPassword(user, next, current);
      current = next;
    }
  });

  it('stays exact on a server running with sql_mode NO_BACKSLASH_ESCAPES', async () => {
    const [firstPw, adminPw] = [password(), password()];
    const user = await createUser(firstPw);
    const admin = await createAdmin(adminPw);
    const [[saved]] = await root.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS mode');
    const viaAdmin = `x\\' OR 1=1 -- \\`;
    const viaSelf = `it's \\'\\\\`;
    // New sessions (the plugin's) start with it; this root session keeps its own mode.
    await root.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    try {
      await mysqlPlugin.change(makeTarget(account(user, firstPw), account(admin, adminPw)), { kind: 'password', password: viaAdmin });
      await mysqlPlugin.change(makeTarget(account(user, viaAdmin), null), { kind: 'password', password: viaSelf });
    } finally {
      await root.query('SET GLOBAL sql_mode = ?', [saved?.['mode']]);
    }
    await expectPassword(user, viaSelf, firstPw);
    expect(await loginWorks(user, viaAdmin)).toBe(false);
  });

  it('a canary password never shows in errors or log lines', async () => {
    const token = randomBytes(6).toString('hex');
    const canary = `canary-${token}-'"\\$ x`;
    const [oldPw, adminPw] = [password(), password()];
    const user = await createUser(oldPw);
    const admin = await createAdmin(adminPw);
    const weakAdmin = await createAdmin(adminPw, false);
    const lines: string[] = [];
    const errors: unknown[] = [];
    const run = async (target: RotationTarget, step: (t: RotationTarget) => Promise<unknown>) => {
      await step({ ...target, log: (line) => lines.push(line) }).catch((err: unknown) => errors.push(err));
    };
    // Success, not_found (mysql2's error carries the whole statement in `sql`), a refused
    // privilege, a refused admin login, a refused verify, an unreachable host, TLS refused.
    await run(makeTarget(account(user, oldPw), account(admin, adminPw)), (t) => mysqlPlugin.change(t, { kind: 'password', password: canary }));
    await run(makeTarget(account(name('ghost'), canary), account(admin, adminPw)), (t) => mysqlPlugin.change(t, { kind: 'password', password: canary }));
    await run(makeTarget(account(user, canary), account(weakAdmin, adminPw)), (t) => mysqlPlugin.change(t, { kind: 'password', password: canary }));
    await run(makeTarget(account(user, canary), account(admin, canary)), (t) => mysqlPlugin.change(t, { kind: 'password', password: canary }));
    await run(makeTarget(account(user, canary), null), (t) => mysqlPlugin.verify(t, { kind: 'password', password: `${canary}-wrong` }));
    await run(makeTarget(account(user, canary), account(admin, canary), { endpoint: { ...endpoint, hostname: '127.0.0.1', port: 1 } }), (t) =>
      mysqlPlugin.change(t, { kind: 'password', password: canary }),
    );
    await run(makeTarget(account(user, canary), account(admin, canary), { endpoint: { ...endpoint, useSSL: true } }), (t) =>
      mysqlPlugin.change(t, { kind: 'password', password: canary }),
    );
    expect(errors.length).toBeGreaterThanOrEqual(4);
    for (const err of errors) {
      expect(err).toBeInstanceOf(RotationFailure);
      const e = err as RotationFailure;
      for (const text of [e.message, String(e.stack), inspect(e, { depth: 5, showHidden: true }), JSON.stringify(e)]) expect(text).not.toContain(token);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(token);
    expect(await loginWorks(user, canary)).toBe(true);
  });

  it('an unreachable port is unreachable', async () => {
    const target = makeTarget(account(name('user'), password()), account(name('admin'), password()), {
      endpoint: { ...endpoint, hostname: '127.0.0.1', port: 1 },
    });
    const err = await failure(mysqlPlugin.change(target, { kind: 'password', password: password() }));
    expect(err.reason).toBe('unreachable');
    expect(err.message).toContain('127.0.0.1:1');
    expect((await failure(mysqlPlugin.verify(target, { kind: 'password', password: password() }))).reason).toBe('unreachable');
  });

  it.skipIf(!server?.sslOff)(
    `useSSL against a server without TLS fails clearly instead of hanging${server?.sslOff ? '' : ' (skipped: the server offers TLS)'}`,
    async () => {
      const pw = password();
      const user = await createUser(pw);
      const target = makeTarget(account(user, pw), null, { endpoint: { ...endpoint, useSSL: true } });
      const err = await failure(mysqlPlugin.change(target, { kind: 'password', password: password() }));
      expect(err.reason).toBe('unreachable');
      expect(err.message).toMatch(/TLS/);
      expect((await failure(mysqlPlugin.verify(target, { kind: 'password', password: pw }))).message).toMatch(/TLS/);
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
      const err = await failure(mysqlPlugin.verify(target, { kind: 'password', password: password() }));
      expect(err.reason).toBe('unreachable');
    });

    it('cancelling the job stops the wait and closes the socket', async () => {
      const controller = new AbortController();
      // A timeout far beyond the test's: only the abort can end this.
      const target = makeTarget(account('nobody', password()), null, { endpoint: silentEndpoint, timeoutMs: 600_000, signal: controller.signal });
      const accepted = new Promise<Socket>((resolve) => silent.once('connection', resolve));
      const pending = failure(mysqlPlugin.change(target, { kind: 'password', password: password() }));
      const socket = await accepted;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      controller.abort();
      const err = await pending;
      expect(err.reason).toBe('failed');
      expect(err.message).toMatch(/cancelled/);
      await closed;
    });
  });

  it('refuses what it cannot set: a key, an empty password', async () => {
    const target = makeTarget(account(name('user'), password()), null);
    expect((await failure(mysqlPlugin.change(target, { kind: 'key', privateKey: 'x', publicKey: 'y' }))).reason).toBe('unsupported');
    expect((await failure(mysqlPlugin.change(target, { kind: 'password', password: '' }))).reason).toBe('policy_refused');
  });

  it.skipIf(!server?.sslOff)(
    `without useSSL, falls back to plaintext only because the server offers no TLS, and says so; useSSL false never tries TLS${server?.sslOff ? '' : ' (skipped: the server offers TLS)'}`,
    async () => {
      const old = password();
      const user = await createUser(old);
      const preferring = makeTarget(account(user, old), null, { endpoint: { ...endpoint, preferTls: true } });
      // The rotation's check before step 1 reads the greeting's capability flags and lets it pass...
      await mysqlPlugin.checkTarget!(preferring);
      // ...but not when the resource requires TLS.
      const requiring = makeTarget(account(user, old), null, { endpoint: { ...endpoint, useSSL: true } });
      expect((await failure(mysqlPlugin.checkTarget!(requiring))).message).toMatch(/does not offer TLS, and this resource requires it \(useSSL\)/);
      const next = password();
      await mysqlPlugin.change(preferring, { kind: 'password', password: next });
      expect(preferring.lines.join('\n')).toContain('plaintext: the server offers no TLS');
      await expectPassword(user, next);
      const off = makeTarget(account(user, next), null);
      expect(await mysqlPlugin.verify(off, { kind: 'password', password: next })).toBe(true);
      expect(off.lines.join('\n')).toContain('plaintext: useSSL is false');
    },
  );
});
