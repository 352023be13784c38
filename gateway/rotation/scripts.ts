/**
 * Post-rotation scripts: record attachments marked as scripts (on the pamUser, its resource or
 * the PAM configuration), run on the gateway after a rotation has been finalized, e.g. to push
 * the new password into an application's config.
 *
 * Each script gets on stdin one line: base64 of a JSON object
 *   {configurationUid, resourceUid, userUid, username, oldPassword, newPassword}
 * (for a key rotation `oldPrivateKey`/`newPrivateKey` instead of the passwords). Secrets go on
 * stdin only: never in argv or the environment, which other local users can read in /proc.
 *
 * The interpreter: the `Shell` custom field when set; else the script's own `#!` line; else
 * /bin/sh. Scripts run non-interactively from a private temporary directory (0700) that is
 * removed afterwards, with HISTFILE=/dev/null, so no shell history or copy is left behind.
 * Every line they print goes to the job log and the gateway log with every known secret
 * scrubbed. A failing script is reported in the job's outcome; it does not undo the rotation,
 * which is complete by then.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretScrubber } from '../logging/scrubber.ts';
import type { Task } from '../tasks.ts';

export interface ScriptFile {
  uid: string;
  name: string;
  recordUid: string;
}

export interface ScriptRun {
  configurationUid: string;
  resourceUid: string | null;
  userUid: string;
  username: string;
  secretKind: 'password' | 'key';
  oldSecret: string;
  newSecret: string;
  files: ScriptFile[];
  shell?: string | undefined;
}

export interface PostRotationScripts {
  /** Runs every script in order; `summary` is empty when there were none and all succeeded. */
  run(task: Task, input: ScriptRun): Promise<{ summary: string; failures: number }>;
}

export interface ScriptDeps {
  download(fileUid: string): Promise<{ name: string; bytes: Uint8Array }>;
  scrubber: SecretScrubber;
  logger: { info(obj: Record<string, unknown>, msg?: string): void; warn(obj: Record<string, unknown>, msg?: string): void };
  /** Per script; default 5 minutes. */
  timeoutMs?: number;
  /** Lines of output kept per script in the job log; default 200. */
  maxLines?: number;
}

export function postRotationScripts(deps: ScriptDeps): PostRotationScripts {
  return {
    async run(task, input) {
      if (input.files.length === 0) return { summary: '', failures: 0 };
      const payload = Buffer.from(
        JSON.stringify({
          configurationUid: input.configurationUid,
          resourceUid: input.resourceUid,
          userUid: input.userUid,
          username: input.username,
          ...(input.secretKind === 'password' ? { oldPassword: input.oldSecret, newPassword: input.newSecret } : { oldPrivateKey: input.oldSecret, newPrivateKey: input.newSecret }),
        }),
      ).toString('base64');
      // The encoded line is as secret as what it encodes.
      deps.scrubber.add(payload);
      const failed: string[] = [];
      let n = 0;
      for (const file of input.files) {
        n++;
        task.step(`post-rotation script ${n}/${input.files.length}`, 90, [`Running post-rotation script "${file.name}" (${n}/${input.files.length})`]);
        const outcome = await runOne(task, file, payload, input.shell, deps).catch((err: unknown) => `could not run: ${deps.scrubber.scrub(err instanceof Error ? err.message : String(err))}`);
        if (outcome) {
          failed.push(`"${file.name}" ${outcome}`);
          task.log(`Post-rotation script "${file.name}" ${outcome}`);
          deps.logger.warn({ jobId: task.jobId, script: file.name, outcome }, 'post-rotation script failed');
        } else {
          task.log(`Post-rotation script "${file.name}" succeeded`);
        }
      }
      const ok = input.files.length - failed.length;
      const summary = failed.length
        ? `Post-rotation scripts: ${ok} of ${input.files.length} succeeded; ${failed.join('; ')} (the rotation itself is complete).`
        : `Post-rotation scripts: ${ok} of ${input.files.length} succeeded.`;
      return { summary, failures: failed.length };
    },
  };
}

/** Runs one script; resolves to null on success, or a short description of the failure. */
async function runOne(task: Task, file: ScriptFile, payload: string, shell: string | undefined, deps: ScriptDeps): Promise<string | null> {
  const { bytes } = await deps.download(file.uid);
  const dir = mkdtempSync(join(tmpdir(), 'postern-script-'));
  try {
    chmodSync(dir, 0o700);
    const path = join(dir, 'script');
    writeFileSync(path, bytes, { mode: 0o700 });
    const hasShebang = bytes[0] === 0x23 && bytes[1] === 0x21;
    const [command, args] = shell ? [shell, [path]] : hasShebang ? [path, []] : ['/bin/sh', [path]];
    const maxLines = deps.maxLines ?? 200;
    let lines = 0;
    const emit = (stream: 'stdout' | 'stderr', line: string) => {
      const clean = deps.scrubber.scrub(line);
      deps.logger.info({ jobId: task.jobId, script: file.name, stream }, clean);
      if (lines++ < maxLines) task.log(`[${file.name}] ${clean}`);
      else if (lines === maxLines + 1) task.log(`[${file.name}] … further output only in the gateway log`);
    };
    return await new Promise<string | null>((resolve) => {
      const child = spawn(command, args, {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', HISTFILE: '/dev/null' },
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(`timed out after ${Math.round((deps.timeoutMs ?? 300_000) / 1000)} s and was stopped`);
      }, deps.timeoutMs ?? 300_000);
      const onAbort = () => child.kill('SIGKILL');
      task.signal.addEventListener('abort', onAbort, { once: true });
      for (const stream of ['stdout', 'stderr'] as const) {
        let rest = '';
        child[stream].setEncoding('utf8');
        child[stream].on('data', (chunk: string) => {
          const parts = (rest + chunk).split('\n');
          rest = parts.pop() ?? '';
          for (const line of parts) emit(stream, line);
        });
        child[stream].on('end', () => {
          if (rest) emit(stream, rest);
        });
      }
      child.stdin.on('error', () => {}); // a script that does not read stdin
      child.stdin.end(`${payload}\n`);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve(`could not start: ${err.message}`);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        task.signal.removeEventListener('abort', onAbort);
        resolve(code === 0 ? null : signal ? `was stopped by ${signal}` : `exited with code ${code}`);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
