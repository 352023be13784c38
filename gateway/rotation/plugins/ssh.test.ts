/**
 * The SSH rotation plugin against a real OpenSSH sshd with PAM (scripts/services/sshd.sh starts
 * one on 127.0.0.1:2222 and prints its address for POSTERN_TEST_SSH). The tests run as root on
 * the test machine: they create their own throwaway Linux users (useradd/chpasswd), an admin
 * with passwordless sudo (a file in /etc/sudoers.d), and, when the dedicated sshd's state
 * directory is here, a root key in its root_authorized_keys; all of it is removed afterwards.
 *
 * Logins are checked with a separate ssh2 client that runs `id -un`, not only with the plugin's
 * own verify(), so a plugin bug cannot vouch for itself.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrivateKeyType } from '../../../core/records/custom-fields.ts';
import { type Account, type Credential, RotationFailure, type RotationFailureReason, type RotationTarget } from '../plugin.ts';
import { sshPlugin } from './ssh.ts';
import { requireService } from '../../../test/support/services.ts';

const ADDRESS = requireService('sshd', 'POSTERN_TEST_SSH');
const [HOST = '127.0.0.1', PORT_TEXT = '2222'] = (ADDRESS ?? '').split(':');
const PORT = Number(PORT_TEXT);
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const SKIP = !ADDRESS
  ? 'skipped: POSTERN_TEST_SSH is not set; run `bash scripts/services/sshd.sh` and export its output'
  : !IS_ROOT
    ? 'skipped: the tests create and delete Linux users, so they must run as root'
    : undefined;
const STATE = process.env.POSTERN_SSHD_STATE ?? '/var/lib/postern-test/sshd';
const ROOT_KEYS = join(STATE, 'root_authorized_keys');
const TIMEOUT_MS = 20_000;

const { Client, utils } = ssh2;
const hasCommand = (name: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const HAS_SUDO = hasCommand('sudo');
/** The dedicated sshd (scripts/services/sshd.sh) lets root in with a key listed here. */
const HAS_ROOT_KEYS = IS_ROOT && existsSync(ROOT_KEYS);

// ---------------------------------------------------------------------------------------------
// Local users and keys

const run = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });

const RUN_ID = randomBytes(3).toString('hex');
let serial = 0;
const created: string[] = [];
const sudoersFiles: string[] = [];

/** A fresh local user `pt<run><n><tag>` with a home directory and, if given, a password. */
function createUser(tag: string, password?: string): string {
  const name = `pt${RUN_ID}${(serial++).toString(36)}${tag}`;
  run('useradd', ['-m', '-s', '/bin/bash', name]);
  created.push(name);
  if (password !== undefined) run('chpasswd', [], `${name}:${password}\n`);
  return name;
}

function removeUser(name: string): void {
  try {
    run('userdel', ['-r', '-f', name]);
  } catch {
    // already gone, or only the mail spool was missing
  }
}

const homeOf = (name: string) => run('getent', ['passwd', name]).trim().split(':')[5]!;
const uidOf = (name: string) => Number(run('id', ['-u', name]).trim());

let keyDir = ''; // made in beforeAll, so a skipped suite leaves nothing behind

/** A key pair from the real ssh-keygen (OpenSSH format), as a key credential. */
function sshKeygen(type: 'ed25519' | 'ecdsa' | 'rsa' | 'dsa', bits: number | undefined, comment: string): Extract<Credential, { kind: 'key' }> {
  const file = join(keyDir, `k${serial++}`);
  run('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', comment, '-f', file]);
  return { kind: 'key', privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** Write `lines` as the user's ~/.ssh/authorized_keys, owned by the user, 700/600. */
function writeAuthorizedKeys(user: string, lines: string[]): void {
  const dir = join(homeOf(user), '.ssh');
  run('install', ['-d', '-m', '700', '-o', user, '-g', user, dir]);
  writeFileSync(join(dir, 'authorized_keys'), lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  run('chown', [`${user}:${user}`, join(dir, 'authorized_keys')]);
}

const readAuthorizedKeys = (user: string) => readFileSync(join(homeOf(user), '.ssh', 'authorized_keys'), 'utf8');

function parsed(privateKey: string): ParsedKey {
  const k = utils.parseKey(privateKey) as ParsedKey | ParsedKey[] | Error;
  if (k instanceof Error) throw k;
  return Array.isArray(k) ? k[0]! : k;
}

const rsaModulus = (privateKey: string) => createPublicKey(parsed(privateKey).getPublicPEM()).asymmetricKeyDetails?.modulusLength;

const blobOf = (publicKeyLine: string) => publicKeyLine.trim().split(/\s+/)[1]!;

// ---------------------------------------------------------------------------------------------
// Targets and independent logins

interface Built {
  target: RotationTarget;
  lines: string[];
}

function build(user: Account, admin: Account | null, opts: { port?: number; privateKeyType?: PrivateKeyType } = {}): Built {
  const lines: string[] = [];
  const target: RotationTarget = {
    endpoint: { type: 'pamMachine', hostname: HOST, port: opts.port ?? PORT, useSSL: false, verifyTls: true },
    user,
    admin,
    options: { noop: false, kerberos: false, privateKeyRotate: true, ...(opts.privateKeyType ? { privateKeyType: opts.privateKeyType } : {}) },
    signal: new AbortController().signal,
    log: (line) => void lines.push(line),
    timeoutMs: TIMEOUT_MS,
  };
  return { target, lines };
}

const pw = (password: string): Credential => ({ kind: 'password', password });

/**
 * Log in as `login` with `credential` through our own ssh2 client and run `id -un`. True when
 * the login works and the shell is really that user; false when authentication is refused.
 */
function canLogin(login: string, credential: Credential): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => (credential.kind === 'password' ? credential.password : ''))));
    c.on('ready', () => {
      c.exec('id -un', (err, ch) => {
        if (err) return reject(err);
        let out = '';
        ch.on('data', (d: Buffer) => (out += d.toString()));
        ch.on('close', () => {
          c.end();
          resolve(out.trim() === login);
        });
      });
    });
    c.on('error', (err: Error & { level?: string }) => (err.level === 'client-authentication' ? resolve(false) : reject(err)));
    c.connect({
      host: HOST,
      port: PORT,
      username: login,
      readyTimeout: TIMEOUT_MS,
      ...(credential.kind === 'password' ? { password: credential.password, tryKeyboard: true } : { privateKey: credential.privateKey }),
    });
  });
}

async function failure(p: Promise<unknown>): Promise<RotationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RotationFailure) return err;
    throw err;
  }
  throw new Error('expected a RotationFailure, but the call succeeded');
}

async function expectFailure(p: Promise<unknown>, reason: RotationFailureReason): Promise<RotationFailure> {
  const err = await failure(p);
  expect(err.reason, err.message).toBe(reason);
  return err;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(SKIP !== undefined)(`ssh rotation plugin on a real sshd${SKIP ? ` (${SKIP})` : ` at ${ADDRESS}`}`, () => {
  // A strong enough password for pam_unix `obscure` (length, classes, not a palindrome).
  const strong = () => `Pq7-${randomBytes(6).toString('base64url')}-x`;

  let sudoAdmin: Account | undefined; // non-root, passwordless sudo
  let rootAdmin: Account | undefined; // root by key (dedicated sshd only)
  let rootKeysBefore: string | undefined;
  let unrelated: Extract<Credential, { kind: 'key' }>;

  beforeAll(() => {
    keyDir = mkdtempSync(join(tmpdir(), 'postern-ssh-test-'));
    unrelated = sshKeygen('ed25519', undefined, 'unrelated@elsewhere');
    if (HAS_SUDO) {
      const adminPassword = strong();
      const login = createUser('adm', adminPassword);
      const file = `/etc/sudoers.d/postern-test-${login}`;
      writeFileSync(file, `${login} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
      sudoersFiles.push(file);
      run('visudo', ['-cqf', file]);
      sudoAdmin = { login, credential: pw(adminPassword) };
    }
    if (HAS_ROOT_KEYS) {
      const key = sshKeygen('ed25519', undefined, 'postern-test-root');
      rootKeysBefore = readFileSync(ROOT_KEYS, 'utf8');
      writeFileSync(ROOT_KEYS, `${rootKeysBefore}${key.publicKey}\n`, { mode: 0o600 });
      rootAdmin = { login: 'root', credential: key };
    }
  });

  afterAll(() => {
    for (const name of created) removeUser(name);
    for (const file of sudoersFiles) rmSync(file, { force: true });
    // Remove only this run's key line, so a suite running at the same time keeps its own.
    if (rootKeysBefore !== undefined && rootAdmin?.credential.kind === 'key') {
      const mine = rootAdmin.credential.publicKey.trim();
      const rest = readFileSync(ROOT_KEYS, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== mine);
      writeFileSync(ROOT_KEYS, rest.join('\n'), { mode: 0o600 });
    }
    rmSync(keyDir, { recursive: true, force: true });
  });

  /** The admins available here: the sudo one and, with the dedicated sshd, root by key. */
  const admins = () => [sudoAdmin, rootAdmin].filter((a): a is Account => a !== undefined);

  describe('passwords', () => {
    it.skipIf(!HAS_SUDO)('an admin with passwordless sudo sets the password with chpasswd; the new one logs in, the old one is refused', async () => {
      if (!sudoAdmin) throw new Error('the sudo admin was not set up');
      const old = strong();
      const user = createUser('u', old);
      const next = strong();
      const { target, lines } = build({ login: user, credential: pw(old) }, sudoAdmin);
      await sshPlugin.change(target, pw(next));
      expect(await canLogin(user, pw(next))).toBe(true);
      expect(await canLogin(user, pw(old))).toBe(false);
      expect(lines.some((l) => l.includes('sudo -n chpasswd'))).toBe(true);
    });

    it.skipIf(!HAS_ROOT_KEYS)('root (logging in with a key) sets the password with chpasswd', async () => {
      if (!rootAdmin) throw new Error('the root key was not set up');
      const old = strong();
      const user = createUser('u', old);
      const next = strong();
      const { target } = build({ login: user, credential: pw(old) }, rootAdmin);
      await sshPlugin.change(target, pw(next));
      expect(await canLogin(user, pw(next))).toBe(true);
      expect(await canLogin(user, pw(old))).toBe(false);
    });

    it('a user rotates its own password with passwd in a pty', async () => {
      const old = strong();
      const user = createUser('s', old);
      const next = strong();
      const { target, lines } = build({ login: user, credential: pw(old) }, null);
      await sshPlugin.change(target, pw(next));
      expect(await canLogin(user, pw(next))).toBe(true);
      expect(await canLogin(user, pw(old))).toBe(false);
      expect(lines.some((l) => l.includes('passwd (self-rotation)'))).toBe(true);
    });

    it('verify: true for the right password, false for a wrong one', async () => {
      const password = strong();
      const user = createUser('v', password);
      const { target } = build({ login: user, credential: pw(password) }, null);
      expect(await sshPlugin.verify(target, pw(password))).toBe(true);
      expect(await sshPlugin.verify(target, pw(`${password}x`))).toBe(false);
    });

    it('a wrong admin password is admin_refused and the user keeps its password', async () => {
      const old = strong();
      const user = createUser('u', old);
      const admin: Account = sudoAdmin
        ? { login: sudoAdmin.login, credential: pw('not-the-admin-password') }
        : { login: 'root', credential: pw('not-the-root-password') };
      const { target } = build({ login: user, credential: pw(old) }, admin);
      const err = await expectFailure(sshPlugin.change(target, pw(strong())), 'admin_refused');
      expect(err.message).toContain(admin.login);
      expect(err.message).toContain(`${HOST}:${PORT}`);
      expect(await canLogin(user, pw(old))).toBe(true);
    });

    it('an admin that is neither root nor allowed sudo is admin_refused', async () => {
      const adminPassword = strong();
      const plain = createUser('np', adminPassword);
      const old = strong();
      const user = createUser('u', old);
      const { target } = build({ login: user, credential: pw(old) }, { login: plain, credential: pw(adminPassword) });
      await expectFailure(sshPlugin.change(target, pw(strong())), 'admin_refused');
      expect(await canLogin(user, pw(old))).toBe(true);
    });

    it('nothing listening: change and verify are unreachable', async () => {
      const port = await freePort();
      const { target } = build({ login: 'nobody', credential: pw('x') }, null, { port });
      const a = await expectFailure(sshPlugin.change(target, pw(strong())), 'unreachable');
      expect(a.message).toContain(`${HOST}:${port}`);
      await expectFailure(sshPlugin.verify(target, pw('x')), 'unreachable');
    });

    it('a server that accepts but never speaks SSH, or speaks something else, is unreachable', async () => {
      const silent = createServer(() => {});
      const http = createServer((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
      await Promise.all([silent, http].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
      try {
        for (const server of [silent, http]) {
          const { target } = build({ login: 'nobody', credential: pw('x') }, null, { port: (server.address() as { port: number }).port });
          target.timeoutMs = 1500; // the silent one ends on the handshake timeout
          await expectFailure(sshPlugin.verify(target, pw('x')), 'unreachable');
        }
      } finally {
        silent.close();
        http.close();
      }
    });

    it('a cancelled job stops waiting: failed, "cancelled"', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((s) => void sockets.add(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      try {
        const { target } = build({ login: 'nobody', credential: pw('x') }, null, { port: (silent.address() as { port: number }).port });
        const controller = new AbortController();
        target.signal = controller.signal;
        const pending = sshPlugin.change(target, pw(strong()));
        controller.abort();
        const err = await expectFailure(pending, 'failed');
        expect(err.message).toContain('cancelled');
      } finally {
        for (const s of sockets) s.destroy();
        silent.close();
      }
    });

    it('a user that does not exist is not_found', async () => {
      for (const admin of admins()) {
        const { target } = build({ login: `pt${RUN_ID}ghost`, credential: pw('whatever') }, admin);
        const err = await expectFailure(sshPlugin.change(target, pw(strong())), 'not_found');
        expect(err.message).toContain(`pt${RUN_ID}ghost`);
      }
    });

    // Debian's pam_unix (`obscure`, minlen 6) checks new passwords for non-root callers only:
    // passwd refuses a too-short one ("You must choose a longer password") and the old one again
    // ("The password has not been changed"), then re-prompts. The plugin hangs up at the re-prompt.
    it('passwd refusing the new password (too short, same as old) is policy_refused and the old one still works', async () => {
      const old = strong();
      const user = createUser('p', old);
      const { target } = build({ login: user, credential: pw(old) }, null);
      const short = await expectFailure(sshPlugin.change(target, pw('a1')), 'policy_refused');
      expect(short.message).toMatch(/longer/i);
      const same = await expectFailure(sshPlugin.change(target, pw(old)), 'policy_refused');
      expect(same.message).toMatch(/not been changed/i);
      expect(await canLogin(user, pw(old))).toBe(true);
    });

    it('passwords with quotes, $, backslashes, spaces and punctuation survive both paths', async () => {
      const tricky = [`It's "quoted" $HOME \\n \\ back$(id)\`x\` ;|&<>*?~#%{}[]=+,.:@!^-_ end`, `a'b"c$d\\e f!g#h%i&j*k(l)m;n<o>p?q|r~s\`t{u}v[w]x=y+z,.:@^`];
      const initial = strong();
      const user = createUser('q', initial);
      // Self-rotation: from the initial password to the first tricky one.
      const first = build({ login: user, credential: pw(initial) }, null);
      await sshPlugin.change(first.target, pw(tricky[0]!));
      expect(await canLogin(user, pw(tricky[0]!))).toBe(true);
      // Admin path: from the first tricky one to the second.
      for (const admin of admins().slice(0, 1)) {
        const { target } = build({ login: user, credential: pw(tricky[0]!) }, admin);
        await sshPlugin.change(target, pw(tricky[1]!));
        expect(await canLogin(user, pw(tricky[1]!))).toBe(true);
        expect(await canLogin(user, pw(tricky[0]!))).toBe(false);
        expect(await sshPlugin.verify(target, pw(tricky[1]!))).toBe(true);
      }
    });

    it('refuses a password with a line break before connecting, and an invalid user name', async () => {
      const { target } = build({ login: 'alice', credential: pw('x') }, null, { port: await freePort() });
      await expectFailure(sshPlugin.change(target, pw('two\nlines')), 'unsupported');
      const bad = build({ login: "alice'; rm -rf /", credential: pw('x') }, null);
      const err = await expectFailure(sshPlugin.change(bad.target, pw(strong())), 'failed');
      expect(err.message).not.toContain('rm -rf');
    });

    it('a canary password never appears in an error message or a log line', async () => {
      const canary = (n: number) => `Canary${n}-${randomBytes(8).toString('hex')}-Zz!`;
      const current = canary(1);
      const user = createUser('c', current);
      const seen: string[] = [];
      const collect = async (p: Promise<unknown>, reason: RotationFailureReason) => {
        const err = await expectFailure(p, reason);
        seen.push(String(err), err.message, err.stack ?? '');
      };
      const targets: Built[] = [];
      const mk = (admin: Account | null, port?: number, login = user) => {
        const b = build({ login, credential: pw(current) }, admin, { port });
        targets.push(b);
        return b.target;
      };
      // Unreachable, wrong admin password (itself a canary), unknown user, passwd refusals.
      await collect(sshPlugin.change(mk(null, await freePort()), pw(canary(2))), 'unreachable');
      await collect(sshPlugin.change(mk({ login: sudoAdmin?.login ?? 'root', credential: pw(canary(3)) }), pw(canary(4))), 'admin_refused');
      for (const admin of admins()) await collect(sshPlugin.change(mk(admin, undefined, `pt${RUN_ID}ghost`), pw(canary(5))), 'not_found');
      await collect(sshPlugin.change(mk(null), pw(current)), 'policy_refused'); // same as old
      await collect(sshPlugin.change(mk(null), pw('Cy1')), 'policy_refused'); // too short
      expect(await sshPlugin.verify(mk(null), pw(canary(6)))).toBe(false);
      // And a successful self-rotation and admin rotation to canaries.
      const next = canary(7);
      await sshPlugin.change(mk(null), pw(next));
      for (const admin of admins()) {
        const b = build({ login: user, credential: pw(next) }, admin);
        targets.push(b);
        await sshPlugin.change(b.target, pw(canary(8)));
      }
      seen.push(...targets.flatMap((b) => b.lines));
      expect(seen.length).toBeGreaterThan(5);
      const text = seen.join('\n');
      expect(text).not.toMatch(/Canary\d-/);
    });
  });

  describe('keys', () => {
    type Case = { label: string; type: 'ed25519' | 'ecdsa' | 'rsa'; bits?: number; sshType: string; via: 'self' | 'sudo' | 'root' };
    const cases: Case[] = [
      { label: 'ed25519', type: 'ed25519', sshType: 'ssh-ed25519', via: 'self' },
      { label: 'ECDSA P-256', type: 'ecdsa', bits: 256, sshType: 'ecdsa-sha2-nistp256', via: 'sudo' },
      { label: 'ECDSA P-384', type: 'ecdsa', bits: 384, sshType: 'ecdsa-sha2-nistp384', via: 'root' },
      { label: 'ECDSA P-521', type: 'ecdsa', bits: 521, sshType: 'ecdsa-sha2-nistp521', via: 'self' },
      { label: 'RSA 4096', type: 'rsa', bits: 4096, sshType: 'ssh-rsa', via: 'sudo' },
    ];

    it.each(cases)('$label: same algorithm and size, new key logs in, old refused, other lines untouched (via $via)', async (c) => {
      const old = sshKeygen(c.type, c.bits, `${c.type}@laptop`);
      const user = createUser('k');
      const comment = '# keys of the test user: keep this comment';
      const other = `no-port-forwarding,no-agent-forwarding ${unrelated.publicKey}`;
      const oldLine = `from="127.0.0.1,::1",no-X11-forwarding ${old.publicKey}`;
      writeAuthorizedKeys(user, [comment, other, oldLine, '', `# trailing comment`]);
      expect(await canLogin(user, old)).toBe(true);

      const admin = c.via === 'self' ? null : c.via === 'sudo' ? sudoAdmin : rootAdmin;
      const effectiveAdmin = c.via === 'self' ? null : (admin ?? admins()[0] ?? null);
      const { target, lines } = build({ login: user, credential: old }, effectiveAdmin);

      const next = await sshPlugin.newKey!(target);
      if (next.kind !== 'key') throw new Error('expected a key');
      const np = parsed(next.privateKey);
      expect(np.type).toBe(c.sshType);
      expect(next.publicKey.split(' ')[0]).toBe(c.sshType);
      expect(next.publicKey.split(' ')[2]).toBe(`${c.type}@laptop`);
      if (c.type === 'rsa') expect(rsaModulus(next.privateKey)).toBe(c.bits);
      expect(next.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);

      await sshPlugin.change(target, next);

      // Byte for byte: the old line became the new key with the same options; nothing else moved.
      const newLine = `from="127.0.0.1,::1",no-X11-forwarding ${c.sshType} ${blobOf(next.publicKey)} ${c.type}@laptop`;
      expect(readAuthorizedKeys(user)).toBe([comment, other, newLine, '', '# trailing comment'].map((l) => `${l}\n`).join(''));
      const home = homeOf(user);
      const file = statSync(join(home, '.ssh', 'authorized_keys'));
      expect(file.mode & 0o777).toBe(0o600);
      expect(file.uid).toBe(uidOf(user));
      expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o700);

      expect(await canLogin(user, next)).toBe(true);
      expect(await canLogin(user, old)).toBe(false);
      expect(await sshPlugin.verify(target, next)).toBe(true);
      expect(await sshPlugin.verify(target, old)).toBe(false);
      expect(lines.some((l) => l.includes('replaced=1'))).toBe(true);
      expect(lines.join('\n')).not.toContain(next.privateKey.split('\n')[1]!);
    });

    it('an admin creates ~/.ssh (700) and authorized_keys (600, owned by the user) when they are missing', async () => {
      const admin = admins()[0];
      if (!admin) return;
      const old = sshKeygen('ed25519', undefined, 'k@x');
      const user = createUser('m');
      const { target, lines } = build({ login: user, credential: old }, admin);
      const next = await sshPlugin.newKey!(target);
      await sshPlugin.change(target, next);
      const home = homeOf(user);
      expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o700);
      expect(statSync(join(home, '.ssh')).uid).toBe(uidOf(user));
      expect(statSync(join(home, '.ssh', 'authorized_keys')).mode & 0o777).toBe(0o600);
      expect(statSync(join(home, '.ssh', 'authorized_keys')).uid).toBe(uidOf(user));
      expect(await canLogin(user, next)).toBe(true);
      expect(lines.some((l) => l.includes('appended=1') && l.includes('~/.ssh created'))).toBe(true);
    });

    it('running the same change twice leaves one line for the new key', async () => {
      const old = sshKeygen('ed25519', undefined, 'twice@x');
      const user = createUser('t');
      writeAuthorizedKeys(user, [old.publicKey]);
      const { target } = build({ login: user, credential: old }, admins()[0] ?? null);
      const next = await sshPlugin.newKey!(target);
      if (next.kind !== 'key') throw new Error('expected a key');
      await sshPlugin.change(target, next);
      // A retry (e.g. the reply was lost): the old key is gone, the new one is already there.
      if (target.admin) await sshPlugin.change(target, next);
      expect(readAuthorizedKeys(user)).toBe(`${next.publicKey}\n`);
    });

    it('Private Key Type overrides the algorithm; ssh-dss is unsupported', async () => {
      const old = sshKeygen('ed25519', undefined, 'over@x');
      const user = createUser('o');
      const p384 = build({ login: user, credential: old }, null, { privateKeyType: 'ecdsa-sha2-nistp384' });
      const next = await sshPlugin.newKey!(p384.target);
      if (next.kind !== 'key') throw new Error('expected a key');
      expect(parsed(next.privateKey).type).toBe('ecdsa-sha2-nistp384');
      const rsa = build({ login: user, credential: old }, null, { privateKeyType: 'ssh-rsa' });
      const rsaKey = await sshPlugin.newKey!(rsa.target);
      if (rsaKey.kind !== 'key') throw new Error('expected a key');
      expect(rsaModulus(rsaKey.privateKey)).toBe(4096);
      const dss = build({ login: user, credential: old }, null, { privateKeyType: 'ssh-dss' });
      await expectFailure(sshPlugin.newKey!(dss.target), 'unsupported');
    });

    it('a current DSA key without Private Key Type is unsupported', async () => {
      let dsa: Extract<Credential, { kind: 'key' }>;
      try {
        dsa = sshKeygen('dsa', undefined, 'old@dsa');
      } catch {
        return; // OpenSSH 10 removed DSA from ssh-keygen; nothing to test with
      }
      const { target } = build({ login: 'someone', credential: dsa }, null);
      await expectFailure(sshPlugin.newKey!(target), 'unsupported');
    });

    it('a key pair whose halves do not match is never installed', async () => {
      const old = sshKeygen('ed25519', undefined, 'a@x');
      const user = createUser('x');
      writeAuthorizedKeys(user, [old.publicKey]);
      const a = sshKeygen('ed25519', undefined, 'b@x');
      const b = sshKeygen('ed25519', undefined, 'c@x');
      const { target } = build({ login: user, credential: old }, null);
      await expectFailure(sshPlugin.change(target, { kind: 'key', privateKey: a.privateKey, publicKey: b.publicKey }), 'failed');
      expect(readAuthorizedKeys(user)).toBe(`${old.publicKey}\n`);
    });

    it('verify with a key: true for the authorised key, false for another', async () => {
      const key = sshKeygen('ecdsa', 256, 'v@x');
      const user = createUser('w');
      writeAuthorizedKeys(user, [key.publicKey]);
      const { target } = build({ login: user, credential: key }, null);
      expect(await sshPlugin.verify(target, key)).toBe(true);
      expect(await sshPlugin.verify(target, unrelated)).toBe(false);
    });
  });

  describe('host keys', () => {
    const otherKey = () => sshKeygen('ed25519', undefined, 'not-the-host').publicKey.trim().split(/\s+/).slice(0, 2).join(' ');

    // threat model (docs/threat-model.md): gateway — an impostor server must not receive the admin's password
    it('change() and verify() refuse a server whose host key is not pinned, before authenticating', async () => {
      const old = strong();
      const user = createUser('hk', old);
      const { target } = build({ login: user, credential: pw(old) }, admins()[0] ?? null);
      target.endpoint.hostKey = otherKey();
      const err = await expectFailure(sshPlugin.change(target, pw(strong())), 'host_key_mismatch');
      expect(err.message).toMatch(/host key SHA256:\S+ is not the one pinned .*\(SHA256:\S+\); nothing was sent and nothing changed/);
      await expectFailure(sshPlugin.verify(target, pw(old)), 'host_key_mismatch');
      await expectFailure(sshPlugin.checkTarget!(target), 'host_key_mismatch');
      expect(await canLogin(user, pw(old))).toBe(true);
    });

    // threat model (docs/threat-model.md): gateway — with nothing pinned and nowhere to record the key, no credential goes to an unverified server
    it('checkTarget() pins the key on first use, and refuses with the fingerprint to set when it cannot record it', async () => {
      const { target, lines } = build({ login: 'nobody', credential: pw('x') }, null);
      const recorded: string[] = [];
      target.pinHostKey = async (key) => void recorded.push(key);
      await sshPlugin.checkTarget!(target);
      expect(recorded).toHaveLength(1);
      expect(target.endpoint.hostKey).toBe(recorded[0]);
      expect(lines.join('\n')).toMatch(/showed host key SHA256:\S+; nothing was pinned, so it is now recorded/);
      // Pinned now: the same server passes.
      await sshPlugin.checkTarget!(target);

      const readOnly = build({ login: 'nobody', credential: pw('x') }, null).target;
      readOnly.pinHostKey = async () => {
        throw new Error('not_allowed: the folder is shared read-only');
      };
      const err = await expectFailure(sshPlugin.checkTarget!(readOnly), 'host_key_unpinned');
      expect(err.message).toMatch(
        /could not record the one it saw, SHA256:\S+ \(not_allowed: the folder is shared read-only\); nothing was sent\. .*set the resource's hostKey/,
      );
      delete readOnly.pinHostKey;
      await expectFailure(sshPlugin.checkTarget!(readOnly), 'host_key_unpinned');
    });
  });
});
