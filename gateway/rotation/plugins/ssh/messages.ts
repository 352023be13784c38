/**
 * What the SSH plugin may put in a message (../ssh.ts: messages name host:port, user, exit status
 * and a short scrubbed stderr; never a secret): the target's address, every secret the step
 * handles, remote output with those secrets removed, and the failure of a cancelled job.
 */
import type { Credential, RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { addressOf, clipped, withoutSecrets } from '../common.ts';

/** `host:port` of the target, for messages. */
export const where = (t: RotationTarget): string => addressOf(t.endpoint);

/** Every secret that may show up in remote output while we work on `target`. */
export function secretsOf(target: RotationTarget, next?: Credential): string[] {
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
export function scrubbed(text: string, secrets: readonly string[], max = 200): string {
  // eslint-disable-next-line no-control-regex
  const s = withoutSecrets(text, secrets)
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clipped(s, max);
}

/** The failure of a step that stopped because the job was cancelled. */
export function cancelled(target: RotationTarget): RotationFailure {
  return new RotationFailure('failed', `ssh ${where(target)}: cancelled`);
}
