/**
 * Checks on what the records give the SSH plugin, made before anything is sent: user names
 * (they end up in commands), new passwords (chpasswd and passwd read them a line at a time) and
 * the `Shell` custom field (the program that runs our scripts).
 */
import type { RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { where } from './messages.ts';

/**
 * POSIX-portable user names (letters, digits, `.`, `_`, `-`; not starting with `-` or `.`), up
 * to 32 characters, with the trailing `$` of Samba machine accounts. All-digit names are refused:
 * `chown`, `sudo -u` and `id` would read them as uids.
 */
const USER_NAME = /^(?!\d+\$?$)[A-Za-z0-9_][A-Za-z0-9._-]{0,30}\$?$/;
/** An absolute path for the `Shell` custom field, with nothing a shell would interpret. */
const SAFE_SHELL = /^\/[A-Za-z0-9._+/-]{1,200}$/;

/** Refuses a login that is not a POSIX user name (`role`: 'user' or 'admin', for the message). */
export function checkUserName(login: string, role: string): void {
  if (!USER_NAME.test(login)) {
    // The name is not echoed: it failed validation, so it may hold anything.
    throw new RotationFailure('failed', `ssh: the ${role} name is not a valid POSIX user name`);
  }
}

/** Refuses a new password that chpasswd and passwd cannot take. */
export function checkPassword(password: string, target: RotationTarget): void {
  // chpasswd reads `user:password` lines and passwd reads one line per answer: a line break or
  // NUL would cut the password short (or start a second record), so such a password cannot be
  // set over SSH at all.
  if (password.length === 0 || /[\r\n\0]/.test(password)) {
    throw new RotationFailure(
      'unsupported',
      `ssh ${where(target)}: the new password is empty or contains a line break or NUL, which chpasswd and passwd cannot take`,
    );
  }
}

/** The shell that runs our scripts: the `Shell` custom field, checked, or /bin/sh. */
export function shellOf(target: RotationTarget): string {
  const shell = target.options.shell ?? '/bin/sh';
  if (!SAFE_SHELL.test(shell)) {
    throw new RotationFailure('unsupported', `ssh ${where(target)}: the Shell custom field must be an absolute path of letters, digits and ._+/-`);
  }
  return shell;
}
