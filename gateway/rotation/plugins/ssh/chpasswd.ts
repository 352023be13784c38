/**
 * Admin rotation of a password: `chpasswd` as root, or `sudo -n chpasswd` for an admin with
 * passwordless sudo (the admin's password is never typed into sudo), reading `user:password` on
 * stdin, so the password is in no command line and no history.
 */
import type { Account, RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { withConnection } from './connection.ts';
import { secretsOf, where } from './messages.ts';
import { PAM_POLICY_REFUSAL, adminFacts, run, status, sudoFailure, sudoProblem } from './remote-commands.ts';

export async function changePasswordAsAdmin(target: RotationTarget, admin: Account, password: string): Promise<void> {
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
    const reason = PAM_POLICY_REFUSAL.test(r.stderr) ? 'policy_refused' : 'failed';
    throw new RotationFailure(reason, `ssh ${where(target)}: ${command} for '${user}' failed (${status(r, secrets)})`);
  });
}
