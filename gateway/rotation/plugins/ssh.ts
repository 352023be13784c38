/**
 * Linux (and other Unix) accounts over SSH: passwords with `chpasswd` (admin) or `passwd`
 * (self-rotation), and OpenSSH keys by rewriting the user's ~/.ssh/authorized_keys.
 *
 * Why it is built this way:
 *  - Secrets never reach a command line, a process list or a shell history. Every remote step is
 *    a fixed command run through `exec` (no interactive shell, so no history file), and secrets
 *    travel on the channel's stdin: `user:password` into `chpasswd`, answers into `passwd`'s pty.
 *    The one script we send (the authorized_keys edit) carries only public data, and only after
 *    it has been checked against strict patterns, so nothing unvalidated is ever interpolated.
 *  - Command lines stay shell-agnostic (`chpasswd`, `sudo -n chpasswd`, `/bin/sh -s`, `env
 *    LC_ALL=C passwd`): the login shell of the account runs them, and that may be bash, dash, zsh
 *    or something odder. Anything with logic runs inside `/bin/sh` (or the record's `Shell`
 *    custom field, which must then be POSIX-compatible) reading its script from stdin.
 *  - Admin rotation needs an admin that is root, or one with passwordless sudo (`sudo -n`): we
 *    never type the admin's password into sudo, because that would put a second secret on the
 *    wire for every step and make a stuck prompt look like a hung target. A sudo-capable admin
 *    needs `chpasswd` (passwords) and `sh` as the user (keys) allowed without a password.
 *  - The authorized_keys edit runs as the user (`sudo -n -u USER` for a sudo admin, `su -s SH
 *    USER` for root), never as root on a file the user controls: a user who turns their
 *    authorized_keys into a symlink to /etc/shadow gets nothing from us.
 *  - Messages name host:port, user, exit status and a short scrubbed stderr; never a secret.
 *
 *  - Host keys (docs/decisions/target-trust.md): every connection checks the server's key
 *    against the pamMachine's `hostKey` (key lines or SHA256 fingerprints) and a mismatch ends
 *    it before any credential is sent (`host_key_mismatch`). checkTarget() runs first in every
 *    rotation: it completes a key exchange without authenticating, so the key it sees is one the
 *    server proved it holds, and with no pin it records that key in the resource (trust on first
 *    use), or refuses when it cannot.
 */
import { createHash, createPublicKey } from 'node:crypto';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client as SshClient, ClientChannel, ParsedKey } from 'ssh2';
import type { Account, Credential, RotationPlugin, RotationTarget } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';

const { Client, utils } = ssh2;

/**
 * POSIX-portable user names (letters, digits, `.`, `_`, `-`; not starting with `-` or `.`), up
 * to 32 characters, with the trailing `$` of Samba machine accounts. All-digit names are refused:
 * `chown`, `sudo -u` and `id` would read them as uids.
 */
const USER_NAME = /^(?!\d+\$?$)[A-Za-z0-9_][A-Za-z0-9._-]{0,30}\$?$/;
/** A key blob as it appears in an authorized_keys line. */
const KEY_BLOB = /^[A-Za-z0-9+/]+={0,2}$/;
/** Key comments we carry over to the new key; anything else becomes `postern`. */
const SAFE_COMMENT = /^[A-Za-z0-9@._+:=,/-]{1,100}$/;
/** An absolute path for the `Shell` custom field, with nothing a shell would interpret. */
const SAFE_SHELL = /^\/[A-Za-z0-9._+/-]{1,200}$/;
const MAX_OUTPUT = 64 * 1024;
const DEFAULT_RSA_BITS = 4096;

type KeySpec = { alg: 'ed25519' } | { alg: 'ecdsa'; bits: 256 | 384 | 521 } | { alg: 'rsa'; bits: number };
type SshKeyType = ParsedKey['type'];

// ---------------------------------------------------------------------------------------------
// Messages and secrets

const where = (t: RotationTarget) => `${t.endpoint.hostname}:${t.endpoint.port}`;

/** Every secret that may show up in remote output while we work on `target`. */
function secretsOf(target: RotationTarget, next?: Credential): string[] {
  const out: string[] = [];
  const add = (c: Credential | undefined) => {
    if (!c) return;
    if (c.kind === 'password') out.push(c.password);
    else {
      out.push(c.privateKey, ...c.privateKey.split(/\r?\n/).filter((l) => l.length >= 16 && !l.startsWith('-----')));
      if (c.passphrase) out.push(c.passphrase);
    }
  };
  add(target.user.credential);
  add(target.admin?.credential);
  add(next);
  // Longest first, so a secret that contains another is removed whole.
  return out.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** Remote output fit for a message: secrets removed, control characters folded, short. */
function scrubbed(text: string, secrets: readonly string[], max = 200): string {
  let s = text;
  for (const secret of secrets) s = s.split(secret).join('[redacted]');
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function checkUserName(login: string, role: string): void {
  if (!USER_NAME.test(login)) {
    // The name is not echoed: it failed validation, so it may hold anything.
    throw new RotationFailure('failed', `ssh: the ${role} name is not a valid POSIX user name`);
  }
}

function checkPassword(password: string, target: RotationTarget): void {
  // chpasswd reads `user:password` lines and passwd reads one line per answer: a line break or
  // NUL would cut the password short (or start a second record), so such a password cannot be
  // set over SSH at all.
  if (password.length === 0 || /[\r\n\0]/.test(password)) {
    throw new RotationFailure('unsupported', `ssh ${where(target)}: the new password is empty or contains a line break or NUL, which chpasswd and passwd cannot take`);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

function parseOne(data: string, passphrase?: string): ParsedKey | Error {
  const parsed = utils.parseKey(data, passphrase) as ParsedKey | ParsedKey[] | Error;
  if (Array.isArray(parsed)) return parsed.length === 1 && parsed[0] ? parsed[0] : new Error('expected exactly one key');
  return parsed;
}

function privateKeyOf(credential: Extract<Credential, { kind: 'key' }>, target: RotationTarget, what: string): ParsedKey {
  const key = parseOne(credential.privateKey, credential.passphrase);
  if (key instanceof Error || !key.isPrivateKey()) {
    // ssh2's message can quote the input; keep only our own words.
    throw new RotationFailure('failed', `ssh ${where(target)}: ${what} private key of '${target.user.login}' cannot be read (wrong passphrase or unsupported format)`);
  }
  return key;
}

function rsaBits(key: ParsedKey): number {
  const bits = createPublicKey(key.getPublicPEM()).asymmetricKeyDetails?.modulusLength;
  return typeof bits === 'number' && bits > 0 ? bits : DEFAULT_RSA_BITS;
}

/** What to generate: the `Private Key Type` field when set, else the current key's algorithm and size. */
function keySpec(type: SshKeyType, current: ParsedKey, target: RotationTarget): KeySpec {
  switch (type) {
    case 'ssh-ed25519':
      return { alg: 'ed25519' };
    case 'ecdsa-sha2-nistp256':
      return { alg: 'ecdsa', bits: 256 };
    case 'ecdsa-sha2-nistp384':
      return { alg: 'ecdsa', bits: 384 };
    case 'ecdsa-sha2-nistp521':
      return { alg: 'ecdsa', bits: 521 };
    case 'ssh-rsa':
      // Switching to RSA from another algorithm: 4096 bits. Staying on RSA: keep the modulus.
      return { alg: 'rsa', bits: current.type === 'ssh-rsa' ? rsaBits(current) : DEFAULT_RSA_BITS };
    case 'ssh-dss':
      // DSA is limited to 1024 bits, disabled in OpenSSH since 7.0 and removed in 10.0.
      throw new RotationFailure('unsupported', `ssh ${where(target)}: DSA (ssh-dss) keys are not generated; set Private Key Type to ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa`);
    default:
      throw new RotationFailure('unsupported', `ssh ${where(target)}: key type ${String(type)} is not supported`);
  }
}

function generate(spec: KeySpec, comment: string): Promise<{ private: string; public: string }> {
  // The async form runs in libuv's pool, so an RSA 4096 key does not stall the gateway.
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, pair: { private: string; public: string }) => (err ? reject(err) : resolve(pair));
    if (spec.alg === 'ed25519') utils.generateKeyPair('ed25519', { comment }, done);
    else if (spec.alg === 'ecdsa') utils.generateKeyPair('ecdsa', { bits: spec.bits, comment }, done);
    else utils.generateKeyPair('rsa', { bits: spec.bits, comment }, done);
  });
}

/** The comment of an authorized_keys line `type blob comment`, when it is safe to carry over. */
function commentOf(publicKeyLine: string, fallback = ''): string {
  const comment = publicKeyLine.trim().split(/\s+/).slice(2).join(' ');
  if (SAFE_COMMENT.test(comment)) return comment;
  return SAFE_COMMENT.test(fallback) ? fallback : 'postern';
}

/** The new key pair, checked: both halves parse, match, and are not DSA. Returns the validated line parts. */
function checkNewKey(next: Extract<Credential, { kind: 'key' }>, target: RotationTarget): { type: SshKeyType; blob: string; comment: string } {
  const priv = parseOne(next.privateKey, next.passphrase);
  const pub = parseOne(next.publicKey);
  if (priv instanceof Error || !priv.isPrivateKey() || pub instanceof Error) {
    throw new RotationFailure('failed', `ssh ${where(target)}: the new key pair for '${target.user.login}' cannot be read`);
  }
  if (!priv.getPublicSSH().equals(pub.getPublicSSH())) {
    // Never authorise a public key whose private half the vault does not hold.
    throw new RotationFailure('failed', `ssh ${where(target)}: the new public key does not belong to the new private key`);
  }
  if (pub.type === 'ssh-dss') throw new RotationFailure('unsupported', `ssh ${where(target)}: DSA (ssh-dss) keys are not installed`);
  const blob = pub.getPublicSSH().toString('base64');
  if (!KEY_BLOB.test(blob)) throw new RotationFailure('failed', `ssh ${where(target)}: the new public key is malformed`);
  return { type: pub.type, blob, comment: commentOf(next.publicKey) };
}

// ---------------------------------------------------------------------------------------------
// Host keys

type Pin = { kind: 'key'; type: string; blob: string } | { kind: 'fingerprint'; sha256: string };

/** The `hostKey` field's entries (already normalised by the record schema; anything else is skipped). */
function pinsOf(target: RotationTarget): Pin[] {
  const pins: Pin[] = [];
  for (const entry of (target.endpoint.hostKey ?? '').split(/\r?\n/)) {
    const e = entry.trim();
    if (e.startsWith('SHA256:')) pins.push({ kind: 'fingerprint', sha256: e.slice(7).replace(/=+$/, '') });
    else {
      const [type, blob] = e.split(/\s+/);
      if (type && blob) pins.push({ kind: 'key', type, blob: blob.replace(/=+$/, '') });
    }
  }
  return pins;
}

const resourceName = (target: RotationTarget): string => (target.endpoint.resourceUid ? `resource ${target.endpoint.resourceUid}` : 'the resource');

const fingerprintOf = (key: Buffer): string => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;

/** `type base64` of a host key blob in SSH wire form (string type, then the key's fields). */
function keyLineOf(key: Buffer): string {
  const len = key.length >= 4 ? key.readUInt32BE(0) : 0;
  const type = len > 0 && len < 64 && key.length >= 4 + len ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
  return `${type} ${key.toString('base64')}`;
}

/** Host key algorithms that produce keys of these types (RSA keys sign with three). */
function algorithmsFor(types: readonly string[]): string[] {
  return types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
}

interface HostKeyCheck {
  /** For ssh2's `hostVerifier`: true when the offered key is pinned (or nothing is pinned). */
  verify(key: Buffer): boolean;
  /** What the server showed, once it has. */
  seen: { line: string; fingerprint: string } | null;
  /** With only key lines pinned, negotiate only their algorithms, so the server shows a pinned one. */
  algorithms?: string[];
  /** The failure for a refused key. */
  mismatch(): RotationFailure;
}

function hostKeyCheck(target: RotationTarget): HostKeyCheck {
  const pins = pinsOf(target);
  const check: HostKeyCheck = {
    seen: null,
    verify(key) {
      const fingerprint = fingerprintOf(key);
      check.seen = { line: keyLineOf(key), fingerprint };
      if (pins.length === 0) return true;
      const blob = key.toString('base64').replace(/=+$/, '');
      return pins.some((p) => (p.kind === 'key' ? p.blob === blob : `SHA256:${p.sha256}` === fingerprint));
    },
    mismatch() {
      const pinned = pins.map((p) => (p.kind === 'fingerprint' ? `SHA256:${p.sha256}` : fingerprintOf(Buffer.from(p.blob, 'base64')))).join(', ');
      return new RotationFailure(
        'host_key_mismatch',
        `ssh ${where(target)}: the server's host key ${check.seen?.fingerprint ?? '(unknown)'} is not the one pinned on ${resourceName(target)} (${pinned}); nothing was sent and nothing changed. If the machine's host key really changed, check the new fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and replace the resource's hostKey; otherwise something is answering in its place.`,
      );
    },
  };
  if (pins.length > 0 && pins.every((p) => p.kind === 'key')) {
    const types = [...new Set(pins.map((p) => (p as Extract<Pin, { kind: 'key' }>).type))];
    check.algorithms = algorithmsFor(types);
  }
  return check;
}

/**
 * Complete a key exchange with the server (so it proves it holds the key it shows) and hang up
 * before authenticating: no user name that matters and no credential leaves the gateway. Then
 * compare with the pin, or pin the key on first use.
 */
async function checkHostKey(target: RotationTarget): Promise<void> {
  const { hostname, port } = target.endpoint;
  const check = hostKeyCheck(target);
  await new Promise<void>((resolve, reject) => {
    if (target.signal.aborted) return reject(cancelled(target));
    const client = new Client();
    let settled = false;
    const finish = (err: RotationFailure | null) => {
      if (settled) return;
      settled = true;
      target.signal.removeEventListener('abort', onAbort);
      client.end();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(cancelled(target));
    target.signal.addEventListener('abort', onAbort, { once: true });
    // 'handshake' comes once the key exchange (and the server's signature) checked out.
    client.on('handshake', () => finish(null));
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (check.seen && /Host denied/.test(err.message)) return finish(check.mismatch());
      finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${err.code ?? (err.level === 'client-timeout' ? `no SSH handshake within ${target.timeoutMs} ms` : (err.level ?? 'error'))})`));
    });
    client.on('close', () => finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: connection closed during the key exchange`)));
    try {
      client.connect({
        host: hostname,
        port,
        username: 'postern-host-key-check',
        readyTimeout: target.timeoutMs,
        // Never authenticate on this connection, whatever happens after the handshake.
        authHandler: (_methods, _partial, next) => next(false as never),
        hostVerifier: (key: Buffer) => check.verify(key),
        ...(check.algorithms ? { algorithms: { serverHostKey: check.algorithms as never } } : {}),
      });
    } catch (err) {
      finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${(err as { code?: string }).code ?? 'bad connection settings'})`));
    }
  });
  const seen = check.seen!;
  if (target.endpoint.hostKey) {
    target.log(`ssh: ${hostname}:${port} host key ${seen.fingerprint} matches the pinned key`);
    return;
  }
  if (!target.pinHostKey) {
    throw new RotationFailure('host_key_unpinned', `ssh ${hostname}:${port}: no host key is pinned on the resource and this gateway cannot record one; check ${seen.fingerprint} on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and set the resource's hostKey to it.`);
  }
  try {
    await target.pinHostKey(seen.line);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new RotationFailure(
      'host_key_unpinned',
      `ssh ${hostname}:${port}: no host key is pinned on ${resourceName(target)} and the gateway could not record the one it saw, ${seen.fingerprint} (${why}); nothing was sent. Check that fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and set the resource's hostKey to it, or give the gateway's application edit rights on the resource.`,
    );
  }
  target.endpoint.hostKey = seen.line;
  target.log(`ssh: ${hostname}:${port} showed host key ${seen.fingerprint}; nothing was pinned, so it is now recorded in the resource's hostKey (trust on first use) and required from now on`);
}

// ---------------------------------------------------------------------------------------------
// Connections

type Role = 'admin' | 'user';

function cancelled(target: RotationTarget): RotationFailure {
  return new RotationFailure('failed', `ssh ${where(target)}: cancelled`);
}

function authMethods(account: Account, target: RotationTarget, role: Role): AnyAuthMethod[] {
  const username = account.login;
  const c = account.credential;
  if (c.kind === 'key') {
    const key = privateKeyOf(c, target, role === 'admin' ? "the admin's" : 'the');
    return [{ type: 'publickey', username, key }];
  }
  return [
    { type: 'password', username, password: c.password },
    // sshd with UsePAM often offers keyboard-interactive alone (PasswordAuthentication no). Answer
    // a single hidden prompt with the password; anything else (OTP, several prompts) is not ours
    // to answer, so we send nothing and let the server refuse.
    {
      type: 'keyboard-interactive',
      username,
      prompt: (_name, _instructions, _lang, prompts, finish) => {
        if (prompts.length === 1 && prompts[0] && !prompts[0].echo) finish([c.password]);
        else finish([]);
      },
    },
  ];
}

/**
 * Open an authenticated connection. Refused credentials become `admin_refused` (the admin's, or
 * the user's own when it rotates itself); no connection, timeouts and failed handshakes become
 * `unreachable`.
 */
function connect(target: RotationTarget, account: Account, role: Role): Promise<SshClient> {
  const { hostname, port } = target.endpoint;
  const authHandler = authMethods(account, target, role);
  const hostKey = hostKeyCheck(target);
  return new Promise((resolve, reject) => {
    if (target.signal.aborted) return reject(cancelled(target));
    const client = new Client();
    let settled = false;
    const finish = (err: RotationFailure | null) => {
      if (settled) return;
      settled = true;
      target.signal.removeEventListener('abort', onAbort);
      if (err) {
        client.end();
        reject(err);
      } else resolve(client);
    };
    const onAbort = () => finish(cancelled(target));
    target.signal.addEventListener('abort', onAbort, { once: true });
    client.on('ready', () => {
      target.log(`ssh: connected to ${hostname}:${port} as '${account.login}'`);
      finish(null);
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKey.seen && /Host denied/.test(err.message)) return finish(hostKey.mismatch());
      if (err.level === 'client-authentication') {
        finish(new RotationFailure('admin_refused', `ssh ${hostname}:${port}: ${role === 'admin' ? 'the admin' : 'the user'} '${account.login}' was refused (${account.credential.kind} authentication failed)`));
      } else if (err.level === 'client-socket' || err.level === 'client-timeout' || err.level === 'client-dns' || err.level === 'handshake' || err.level === 'protocol') {
        const why = err.code ?? (err.level === 'client-timeout' ? `no SSH handshake within ${target.timeoutMs} ms` : (err.level ?? 'error'));
        finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${why})`));
      } else {
        finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: connection failed (${err.code ?? err.level ?? 'error'})`));
      }
    });
    client.on('close', () => finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: connection closed before login`)));
    try {
      client.connect({
        host: hostname,
        port,
        username: account.login,
        readyTimeout: target.timeoutMs,
        authHandler,
        hostVerifier: (key: Buffer) => {
          const ok = hostKey.verify(key);
          // Only a rotation outside the engine (which pins first) gets here without a pin.
          if (ok && !target.endpoint.hostKey) target.log(`ssh: ${hostname}:${port} host key ${hostKey.seen?.fingerprint} (not pinned)`);
          return ok;
        },
        ...(hostKey.algorithms ? { algorithms: { serverHostKey: hostKey.algorithms as never } } : {}),
      });
    } catch (err) {
      finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${(err as { code?: string }).code ?? 'bad connection settings'})`));
    }
  });
}

async function withConnection<T>(target: RotationTarget, account: Account, role: Role, body: (client: SshClient) => Promise<T>): Promise<T> {
  const client = await connect(target, account, role);
  try {
    return await body(client);
  } finally {
    client.end();
  }
}

interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/**
 * Run one fixed command, feed `stdin`, collect output (capped), wait for its exit. Times out
 * after `timeoutMs` and honours the job's abort signal, closing the channel in both cases.
 */
function run(client: SshClient, target: RotationTarget, command: string, stdin: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (target.signal.aborted) return reject(cancelled(target));
    let channel: ClientChannel | undefined;
    let settled = false;
    const result: ExecResult = { code: null, stdout: '', stderr: '' };
    const timer = setTimeout(() => fail(new RotationFailure('failed', `ssh ${where(target)}: \`${command}\` did not finish within ${target.timeoutMs} ms`)), target.timeoutMs);
    const onAbort = () => fail(cancelled(target));
    target.signal.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      settled = true;
      clearTimeout(timer);
      target.signal.removeEventListener('abort', onAbort);
    }
    function fail(err: RotationFailure) {
      if (settled) return;
      cleanup();
      channel?.close();
      reject(err);
    }
    client.exec(command, (err, ch) => {
      if (settled) return void ch?.close();
      if (err) return fail(new RotationFailure('failed', `ssh ${where(target)}: cannot run \`${command}\` (${err.message})`));
      channel = ch;
      const take = (acc: 'stdout' | 'stderr') => (d: Buffer) => {
        if (result[acc].length < MAX_OUTPUT) result[acc] += d.toString('utf8');
      };
      ch.on('data', take('stdout'));
      ch.stderr.on('data', take('stderr'));
      ch.on('exit', (code: number | null, signal?: string) => {
        result.code = typeof code === 'number' ? code : null;
        if (signal) result.signal = signal;
      });
      ch.on('close', () => {
        if (settled) return;
        cleanup();
        resolve(result);
      });
      ch.end(stdin);
    });
  });
}

/** `exit 1: short stderr` for messages, scrubbed. */
function status(r: ExecResult, secrets: readonly string[]): string {
  const how = r.code !== null ? `exit ${r.code}` : r.signal ? `signal ${r.signal}` : 'no exit status';
  const err = scrubbed(r.stderr || r.stdout, secrets);
  return err ? `${how}: ${err}` : how;
}

/**
 * Why `sudo -n ...` did not run its command, if that is what happened: `refused` (a password is
 * required, or the admin is not allowed that command), `missing` (no sudo on the target).
 */
function sudoProblem(r: ExecResult): 'refused' | 'missing' | undefined {
  if (r.code === 127 && /\bsudo\b/.test(r.stderr)) return 'missing';
  if (r.code === 1 && /^sudo: .*(password is required|not in the sudoers|not allowed to|may not run|no tty present|a terminal is required)/im.test(r.stderr)) return 'refused';
  return undefined;
}

function sudoFailure(problem: 'refused' | 'missing', target: RotationTarget, admin: Account, what: string, r: ExecResult, secrets: readonly string[]): RotationFailure {
  const why = problem === 'missing' ? 'sudo is not installed' : `may not ${what} with passwordless sudo`;
  return new RotationFailure('admin_refused', `ssh ${where(target)}: the admin '${admin.login}' is not root and ${why} (${status(r, secrets)})`);
}

function shellOf(target: RotationTarget): string {
  const shell = target.options.shell ?? '/bin/sh';
  if (!SAFE_SHELL.test(shell)) {
    throw new RotationFailure('unsupported', `ssh ${where(target)}: the Shell custom field must be an absolute path of letters, digits and ._+/-`);
  }
  return shell;
}

interface AdminFacts {
  root: boolean;
  userExists: boolean;
}

/** Who the admin is on the target, and whether the user exists there (one round trip). */
async function adminFacts(client: SshClient, target: RotationTarget, secrets: readonly string[]): Promise<AdminFacts> {
  const user = target.user.login;
  // `id` is everywhere (coreutils, busybox, BSD) and asks NSS, so LDAP/SSSD users count too.
  const script = `id -u\nif id -u '${user}' >/dev/null 2>&1; then echo user=yes; else echo user=no; fi\n`;
  const r = await run(client, target, shellOf(target) + ' -s', script);
  const lines = r.stdout.split(/\r?\n/);
  const uid = lines[0]?.trim() ?? '';
  if (r.code !== 0 || !/^\d+$/.test(uid)) {
    throw new RotationFailure('failed', `ssh ${where(target)}: cannot inspect the target as the admin '${target.admin?.login ?? ''}' (${status(r, secrets)})`);
  }
  return { root: uid === '0', userExists: lines.includes('user=yes') };
}

// ---------------------------------------------------------------------------------------------
// Passwords

async function changePasswordAsAdmin(target: RotationTarget, admin: Account, password: string): Promise<void> {
  const user = target.user.login;
  const secrets = secretsOf(target, { kind: 'password', password });
  await withConnection(target, admin, 'admin', async (client) => {
    const facts = await adminFacts(client, target, secrets);
    if (!facts.userExists) throw new RotationFailure('not_found', `ssh ${where(target)}: no user '${user}' on the target`);
    // chpasswd reads `user:password` from stdin: the password is in no argv and no history.
    const command = facts.root ? 'chpasswd' : 'sudo -n chpasswd';
    const r = await run(client, target, command, `${user}:${password}\n`);
    if (r.code === 0) {
      target.log(`ssh: password of '${user}' set with ${command} by the admin '${admin.login}'`);
      return;
    }
    const sudo = facts.root ? undefined : sudoProblem(r);
    if (sudo) throw sudoFailure(sudo, target, admin, 'run chpasswd', r, secrets);
    if (r.code === 127) throw new RotationFailure('unsupported', `ssh ${where(target)}: chpasswd is not installed on the target (${status(r, secrets)})`);
    // With root, pam_unix skips its checks; pam_pwquality with enforce_for_root does not.
    const reason = POLICY.test(r.stderr) ? 'policy_refused' : 'failed';
    throw new RotationFailure(reason, `ssh ${where(target)}: ${command} for '${user}' failed (${status(r, secrets)})`);
  });
}

/** pam_unix, pam_pwquality, pam_cracklib and pam_pwhistory refusals of a new password. */
const POLICY =
  /bad password|must choose a longer|has not been changed|too simple|too similar|too short|is a palindrome|case changes only|dictionary|already used|password has been already used|must wait longer|not enough different|fewer than|is too long|does not contain enough/i;

type PromptKind = 'current' | 'new' | 'retype';

function promptKind(line: string): PromptKind | undefined {
  const l = line.toLowerCase();
  if (!/:\s*$/.test(l)) return undefined;
  if (/retype|re-enter|again|repeat|confirm/.test(l)) return 'retype';
  if (/current|old|\(current\)/.test(l)) return 'current';
  if (/new/.test(l)) return 'new';
  return undefined;
}

/**
 * Self-rotation: `passwd` in a pty, answering its prompts. The answer goes out only once the
 * prompt is on screen, and PAM's conversation (libpam_misc) turns echo off and flushes input
 * before it prints a prompt, so nothing we type is echoed or lost. A second "New password"
 * prompt means PAM refused the first one: we hang up rather than try again.
 */
async function changePasswordSelf(target: RotationTarget, password: string): Promise<void> {
  const user = target.user;
  if (user.credential.kind !== 'password') throw new RotationFailure('unsupported', `ssh ${where(target)}: self-rotation needs the current password`);
  const current = user.credential.password;
  const secrets = secretsOf(target, { kind: 'password', password });
  await withConnection(target, user, 'user', (client) =>
    new Promise<void>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      let transcript = '';
      let pending = ''; // output since our last answer
      const answered: PromptKind[] = [];
      let code: number | null = null;
      const timer = setTimeout(() => fail(new RotationFailure('failed', `ssh ${where(target)}: passwd for '${user.login}' did not finish within ${target.timeoutMs} ms (${describe()})`)), target.timeoutMs);
      const onAbort = () => fail(cancelled(target));
      target.signal.addEventListener('abort', onAbort, { once: true });
      function describe(): string {
        const text = scrubbed(transcript.split(/\r?\n/).filter((l) => !promptKind(l)).join(' '), secrets);
        return text || 'no output';
      }
      function done(err: RotationFailure | null) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        target.signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      }
      function fail(err: RotationFailure) {
        // Hanging up kills passwd (SIGHUP) before it has written anything.
        channel?.close();
        done(err);
      }
      function answer(kind: PromptKind, text: string) {
        answered.push(kind);
        pending = '';
        channel?.write(`${text}\n`);
      }
      function onOutput(chunk: string) {
        transcript = (transcript + chunk).slice(-MAX_OUTPUT);
        pending += chunk;
        const lastLine = pending.split(/\r?\n/).pop() ?? '';
        const kind = promptKind(lastLine);
        if (!kind) return;
        if (kind === 'current') {
          if (answered.includes('current')) return fail(new RotationFailure('admin_refused', `ssh ${where(target)}: passwd refused the current password of '${user.login}' (${describe()})`));
          return answer('current', current);
        }
        if (kind === 'new') {
          if (answered.includes('new')) {
            const why = describe();
            const reason = POLICY.test(pending) || POLICY.test(transcript) ? 'policy_refused' : 'failed';
            return fail(new RotationFailure(reason, `ssh ${where(target)}: passwd refused the new password of '${user.login}' (${why})`));
          }
          return answer('new', password);
        }
        if (!answered.includes('new') || answered.includes('retype')) {
          return fail(new RotationFailure('failed', `ssh ${where(target)}: passwd for '${user.login}' asked for confirmation out of turn (${describe()})`));
        }
        return answer('retype', password);
      }
      // LC_ALL=C: the prompts and messages we read are the English ones. `env` is a program, so
      // this works whatever the login shell is.
      client.exec('env LC_ALL=C LANG=C passwd', { pty: { term: 'dumb', rows: 24, cols: 200 } }, (err, ch) => {
        if (settled) return void ch?.close();
        if (err) return fail(new RotationFailure('failed', `ssh ${where(target)}: cannot run passwd (${err.message})`));
        channel = ch;
        ch.on('data', (d: Buffer) => onOutput(d.toString('utf8')));
        ch.stderr.on('data', (d: Buffer) => onOutput(d.toString('utf8')));
        ch.on('exit', (c: number | null) => {
          code = typeof c === 'number' ? c : null;
        });
        ch.on('close', () => {
          if (settled) return;
          if (code === 0 && answered.includes('retype')) {
            target.log(`ssh: password of '${user.login}' changed with passwd (self-rotation)`);
            return done(null);
          }
          const why = describe();
          const how = code === null ? 'no exit status' : `exit ${code}`;
          if (code === 127) return done(new RotationFailure('unsupported', `ssh ${where(target)}: passwd is not installed on the target (${how})`));
          if (POLICY.test(transcript)) return done(new RotationFailure('policy_refused', `ssh ${where(target)}: passwd refused the new password of '${user.login}' (${how}: ${why})`));
          if (answered.length === 1 && answered[0] === 'current') {
            return done(new RotationFailure('admin_refused', `ssh ${where(target)}: passwd refused the current password of '${user.login}' (${how}: ${why})`));
          }
          done(new RotationFailure('failed', `ssh ${where(target)}: passwd for '${user.login}' failed (${how}: ${why})`));
        });
      });
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Keys: authorized_keys

/**
 * The POSIX sh + awk script that swaps the key in ~/.ssh/authorized_keys. Its data is public
 * (key blobs, a key type from a fixed list, a comment matching SAFE_COMMENT) and validated
 * before it gets here; single quotes cannot occur in any of it.
 *
 * The old key's line is replaced in place, keeping its options (`from=`, `command=`, ...), so a
 * restriction on the old key carries over to the new one; every other line (other keys,
 * comments, blank lines) is copied unchanged. A line already holding the new key is kept (a retry
 * after a lost reply changes nothing). If the old key is not there the new line is appended.
 * The result goes to a temp file in the same directory (mode 600), then `mv` replaces the file
 * atomically: sshd sees the old file or the new one, never half of one.
 */
function authorizedKeysScript(oldBlob: string, newLine: string, newBlob: string): string {
  for (const v of [oldBlob, newBlob]) if (!KEY_BLOB.test(v)) throw new Error('unreachable: unvalidated key blob');
  if (!/^[a-z0-9-]+ [A-Za-z0-9+/]+={0,2} [A-Za-z0-9@._+:=,/-]+$/.test(newLine)) throw new Error('unreachable: unvalidated key line');
  return `set -eu
umask 077
old_blob='${oldBlob}'
new_blob='${newBlob}'
new_line='${newLine}'
me=$(id -un)
home=$( (getent passwd "$me" 2>/dev/null || true) | cut -d: -f6)
[ -n "$home" ] || home=\${HOME:-}
if [ -z "$home" ] || [ ! -d "$home" ]; then echo "postern: the home directory of $me does not exist" >&2; exit 3; fi
dir="$home/.ssh"
file="$dir/authorized_keys"
if [ ! -d "$dir" ]; then mkdir -m 700 "$dir"; echo "postern-note: created $dir" >&2; fi
tmp="$dir/.authorized_keys.postern.$$"
rm -f "$tmp"
trap 'rm -f "$tmp"' EXIT
(set -C; : >"$tmp")
if [ -f "$file" ]; then src="$file"; else src=/dev/null; fi
awk -v old="$old_blob" -v nb="$new_blob" -v nl="$new_line" '
  BEGIN { replaced = 0; present = 0; dropped = 0 }
  /^[ \\t]*(#|$)/ { print; next }
  {
    hasold = 0; hasnew = 0
    for (i = 1; i <= NF; i++) { f = $i ""; if (f == old) hasold = 1; if (f == nb) hasnew = 1 }
    if (hasnew) { if (present) { dropped++; next } present = 1; print; next }
    if (hasold) {
      if (present) { dropped++; next }
      before = substr($0, 1, index($0, old) - 1)
      sub(/[^ \\t]+[ \\t]+$/, "", before)
      print before nl
      replaced++; present = 1; next
    }
    print
  }
  END {
    if (!present) print nl
    printf "postern-status: replaced=%d appended=%d dropped=%d\\n", replaced, present ? 0 : 1, dropped > "/dev/stderr"
  }
' "$src" >"$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$file"
trap - EXIT
`;
}

async function changeKey(target: RotationTarget, next: Extract<Credential, { kind: 'key' }>): Promise<void> {
  const user = target.user;
  if (user.credential.kind !== 'key') throw new RotationFailure('unsupported', `ssh ${where(target)}: '${user.login}' has a password, not a key`);
  const oldKey = privateKeyOf(user.credential, target, 'the current');
  const oldBlob = oldKey.getPublicSSH().toString('base64');
  const fresh = checkNewKey(next, target);
  const script = authorizedKeysScript(oldBlob, `${fresh.type} ${fresh.blob} ${fresh.comment}`, fresh.blob);
  const secrets = secretsOf(target, next);
  const shell = shellOf(target);
  const admin = target.admin;
  await withConnection(target, admin ?? user, admin ? 'admin' : 'user', async (client) => {
    let command = `${shell} -s`;
    if (admin) {
      const facts = await adminFacts(client, target, secrets);
      if (!facts.userExists) throw new RotationFailure('not_found', `ssh ${where(target)}: no user '${user.login}' on the target`);
      // Run the edit as the user (see the top of the file): root through su, others through sudo.
      command = facts.root ? `su -s ${shell} '${user.login}'` : `sudo -n -u '${user.login}' ${shell} -s`;
    }
    const r = await run(client, target, command, script);
    const note = /^postern-status: (.*)$/m.exec(r.stderr)?.[1];
    if (r.code === 0 && note) {
      target.log(`ssh: authorized_keys of '${user.login}' updated (${note.trim()}${/postern-note: created/.test(r.stderr) ? ', ~/.ssh created' : ''})${admin ? ` by the admin '${admin.login}'` : ''}`);
      return;
    }
    const sudo = admin && command.startsWith('sudo ') ? sudoProblem(r) : undefined;
    if (admin && sudo) throw sudoFailure(sudo, target, admin, `run a shell as '${user.login}'`, r, secrets);
    throw new RotationFailure('failed', `ssh ${where(target)}: updating authorized_keys of '${user.login}' failed (${status(r, secrets)})`);
  });
}

// ---------------------------------------------------------------------------------------------
// The plugin

export const sshPlugin: RotationPlugin = {
  name: 'ssh',

  checkTarget: checkHostKey,

  async change(target, next) {
    checkUserName(target.user.login, 'user');
    if (target.admin) checkUserName(target.admin.login, 'admin');
    if (next.kind !== target.user.credential.kind) {
      throw new RotationFailure('unsupported', `ssh ${where(target)}: cannot replace a ${target.user.credential.kind} with a ${next.kind}`);
    }
    if (next.kind === 'password') {
      checkPassword(next.password, target);
      if (target.admin) return changePasswordAsAdmin(target, target.admin, next.password);
      return changePasswordSelf(target, next.password);
    }
    return changeKey(target, next);
  },

  async verify(target, credential) {
    checkUserName(target.user.login, 'user');
    try {
      const client = await connect(target, { ...target.user, credential }, 'user');
      client.end();
      return true;
    } catch (err) {
      if (err instanceof RotationFailure && err.reason === 'admin_refused') return false;
      throw err;
    }
  },

  async newKey(target) {
    const c = target.user.credential;
    if (c.kind !== 'key') throw new RotationFailure('unsupported', `ssh ${where(target)}: '${target.user.login}' has a password, not a key`);
    const current = privateKeyOf(c, target, 'the current');
    const spec = keySpec(target.options.privateKeyType ?? current.type, current, target);
    let pair: { private: string; public: string };
    try {
      pair = await generate(spec, commentOf(c.publicKey, current.comment));
    } catch (err) {
      throw new RotationFailure('failed', `ssh: cannot generate a ${spec.alg} key (${(err as Error).message})`);
    }
    const label = spec.alg === 'ed25519' ? 'ed25519' : `${spec.alg} ${spec.bits}`;
    target.log(`ssh: generated a new ${label} key for '${target.user.login}'`);
    // The new private key is not encrypted: the vault encrypts it, and a passphrase kept next to
    // the key it protects would add nothing.
    return { kind: 'key', privateKey: pair.private, publicKey: pair.public.trim() };
  },
};
