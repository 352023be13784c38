/**
 * Self-rotation of a password: the user's own `passwd`, run in a pty and answered prompt by
 * prompt (current password, new password, retype). The dialog is its own module because its
 * reading of prompts and of PAM's refusals is what decides whether a password changed.
 */
import type { ClientChannel } from 'ssh2';
import type { RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { withConnection } from './connection.ts';
import { cancelled, scrubbed, secretsOf, where } from './messages.ts';
import { MAX_OUTPUT, PAM_POLICY_REFUSAL } from './remote-commands.ts';

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
export async function changePasswordSelf(target: RotationTarget, password: string): Promise<void> {
  const user = target.user;
  if (user.credential.kind !== 'password') throw new RotationFailure('unsupported', `ssh ${where(target)}: self-rotation needs the current password`);
  const current = user.credential.password;
  const secrets = secretsOf(target, { kind: 'password', password });
  await withConnection(
    target,
    user,
    'user',
    (client) =>
      new Promise<void>((resolve, reject) => {
        let channel: ClientChannel | undefined;
        let settled = false;
        let transcript = '';
        let pending = ''; // output since our last answer
        const answered: PromptKind[] = [];
        let code: number | null = null;
        const timedOut = () => `ssh ${where(target)}: passwd for '${user.login}' did not finish within ${target.timeoutMs} ms (${describe()})`;
        const timer = setTimeout(() => fail(new RotationFailure('failed', timedOut())), target.timeoutMs);
        const onAbort = () => fail(cancelled(target));
        target.signal.addEventListener('abort', onAbort, { once: true });
        function describe(): string {
          const text = scrubbed(
            transcript
              .split(/\r?\n/)
              .filter((l) => !promptKind(l))
              .join(' '),
            secrets,
          );
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
            if (answered.includes('current')) {
              return fail(new RotationFailure('admin_refused', `ssh ${where(target)}: passwd refused the current password of '${user.login}' (${describe()})`));
            }
            return answer('current', current);
          }
          if (kind === 'new') {
            if (answered.includes('new')) {
              const why = describe();
              const reason = PAM_POLICY_REFUSAL.test(pending) || PAM_POLICY_REFUSAL.test(transcript) ? 'policy_refused' : 'failed';
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
            if (PAM_POLICY_REFUSAL.test(transcript)) {
              return done(new RotationFailure('policy_refused', `ssh ${where(target)}: passwd refused the new password of '${user.login}' (${how}: ${why})`));
            }
            if (answered.length === 1 && answered[0] === 'current') {
              return done(
                new RotationFailure('admin_refused', `ssh ${where(target)}: passwd refused the current password of '${user.login}' (${how}: ${why})`),
              );
            }
            done(new RotationFailure('failed', `ssh ${where(target)}: passwd for '${user.login}' failed (${how}: ${why})`));
          });
        });
      }),
  );
}
