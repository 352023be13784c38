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
 *  - Host keys (docs/decisions/0006-target-trust.md): every connection checks the server's key
 *    against the pamMachine's `hostKey` (key lines or SHA256 fingerprints) and a mismatch ends
 *    it before any credential is sent (`host_key_mismatch`). checkTarget() runs first in every
 *    rotation: it completes a key exchange without authenticating, so the key it sees is one the
 *    server proved it holds, and with no pin it records that key in the resource (trust on first
 *    use), or refuses when it cannot.
 *
 * The parts, in ./ssh/: inputs.ts (user names, passwords, Shell), messages.ts (secrets kept out
 * of messages), keys.ts (key pairs), host-key.ts (pinning), connection.ts (logging in),
 * remote-commands.ts (running fixed commands and reading their results), chpasswd.ts (admin
 * password changes), passwd-dialog.ts (self-rotation through passwd) and authorized-keys.ts
 * (key rotation).
 */
import type { RotationPlugin } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';
import { changeKey } from './ssh/authorized-keys.ts';
import { changePasswordAsAdmin } from './ssh/chpasswd.ts';
import { connect } from './ssh/connection.ts';
import { checkHostKey } from './ssh/host-key.ts';
import { checkPassword, checkUserName } from './ssh/inputs.ts';
import { commentOf, generate, keySpec, privateKeyOf } from './ssh/keys.ts';
import { where } from './ssh/messages.ts';
import { changePasswordSelf } from './ssh/passwd-dialog.ts';

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
