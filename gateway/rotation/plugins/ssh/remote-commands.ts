/**
 * Fixed commands run on the target over an open connection (never an interactive shell, so no
 * history file; secrets only on stdin), and what their results say: the exit status and a short
 * scrubbed stderr for messages, sudo refusing to run a command, PAM refusing a new password, and
 * who the admin is on the target.
 */
import type { ClientChannel, Client as SshClient } from 'ssh2';
import type { Account, RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { shellOf } from './inputs.ts';
import { cancelled, scrubbed, where } from './messages.ts';

/** How much of a command's output (each of stdout and stderr, or a pty transcript) is kept. */
export const MAX_OUTPUT = 64 * 1024;

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/**
 * Run one fixed command, feed `stdin`, collect output (capped), wait for its exit. Times out
 * after `timeoutMs` and honours the job's abort signal, closing the channel in both cases.
 */
export function run(client: SshClient, target: RotationTarget, command: string, stdin: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (target.signal.aborted) return reject(cancelled(target));
    let channel: ClientChannel | undefined;
    let settled = false;
    const result: ExecResult = { code: null, stdout: '', stderr: '' };
    const timer = setTimeout(
      () => fail(new RotationFailure('failed', `ssh ${where(target)}: \`${command}\` did not finish within ${target.timeoutMs} ms`)),
      target.timeoutMs,
    );
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
export function status(r: ExecResult, secrets: readonly string[]): string {
  const how = r.code !== null ? `exit ${r.code}` : r.signal ? `signal ${r.signal}` : 'no exit status';
  const err = scrubbed(r.stderr || r.stdout, secrets);
  return err ? `${how}: ${err}` : how;
}

/** What sudo says when it will not run a command without a password, or at all, for this admin. */
const SUDO_REFUSAL = /^sudo: .*(password is required|not in the sudoers|not allowed to|may not run|no tty present|a terminal is required)/im;

/**
 * Why `sudo -n ...` did not run its command, if that is what happened: `refused` (a password is
 * required, or the admin is not allowed that command), `missing` (no sudo on the target).
 */
export function sudoProblem(r: ExecResult): 'refused' | 'missing' | undefined {
  if (r.code === 127 && /\bsudo\b/.test(r.stderr)) return 'missing';
  if (r.code === 1 && SUDO_REFUSAL.test(r.stderr)) return 'refused';
  return undefined;
}

export function sudoFailure(
  problem: 'refused' | 'missing',
  target: RotationTarget,
  admin: Account,
  what: string,
  r: ExecResult,
  secrets: readonly string[],
): RotationFailure {
  const why = problem === 'missing' ? 'sudo is not installed' : `may not ${what} with passwordless sudo`;
  return new RotationFailure('admin_refused', `ssh ${where(target)}: the admin '${admin.login}' is not root and ${why} (${status(r, secrets)})`);
}

export interface AdminFacts {
  root: boolean;
  userExists: boolean;
}

/** Who the admin is on the target, and whether the user exists there (one round trip). */
export async function adminFacts(client: SshClient, target: RotationTarget, secrets: readonly string[]): Promise<AdminFacts> {
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

/** pam_unix, pam_pwquality, pam_cracklib and pam_pwhistory refusals of a new password. */
export const PAM_POLICY_REFUSAL = new RegExp(
  [
    'bad password',
    'must choose a longer',
    'has not been changed',
    'too simple',
    'too similar',
    'too short',
    'is a palindrome',
    'case changes only',
    'dictionary',
    'already used',
    'password has been already used',
    'must wait longer',
    'not enough different',
    'fewer than',
    'is too long',
    'does not contain enough',
  ].join('|'),
  'i',
);
