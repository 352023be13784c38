/**
 * Post-rotation scripts: record attachments marked as scripts (on the pamUser, its resource or
 * the PAM configuration), run on the gateway after a rotation has been finalized, e.g. to push
 * the new password into an application's config.
 *
 * A script is code running next to every secret shared to the gateway's application, so the
 * gateway runs only scripts an administrator approved (a holder of `manage_rotation_scripts`):
 * the Router signs each approval over the file UID, the record it is attached to and a digest
 * of the stored ciphertext (core/protocol/script-approval.ts), and the gateway checks that
 * signature with the Router signing key pinned in its configuration against the digest of what
 * it downloaded. An unapproved, changed or forged script is not run; the job reports it as a
 * failure of that script with the command that approves it. Who may attach and approve, and why
 * a database-only attacker cannot forge an approval: docs/decisions/0007-post-rotation-scripts.md.
 *
 * Each script gets on stdin one line: base64 of a JSON object
 *   {configurationUid, resourceUid, userUid, username, oldPassword, newPassword}
 * (for a key rotation `oldPrivateKey`/`newPrivateKey` instead of the passwords). Secrets go on
 * stdin only: never in argv or the environment, which other local users can read in /proc.
 *
 * The interpreter: the `Shell` custom field when set; else the script's own `#!` line; else
 * /bin/sh. The sandbox: on a root gateway the script runs as a separate unprivileged account
 * (./script-user.ts) with no supplementary groups, which cannot read the gateway's configuration;
 * on a non-root gateway it runs as the gateway's own user (logged once as a warning). Always: a
 * private temporary directory (0700, owned by the script's account, removed afterwards) as cwd,
 * HOME and TMPDIR; an environment of exactly SCRIPT_ENV_NAMES (nothing inherited, HISTFILE=/dev/null);
 * no file descriptors but 0–2; its own process group, killed whole when the script ends, times
 * out (`--script-timeout`, 5 minutes by default) or the job is cancelled; output capped. Every line
 * printed goes to the job log and the gateway log with every known secret scrubbed. A failing
 * script does not undo the rotation, which is complete by then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyScriptApproval, type ScriptApproval } from '../../core/protocol/script-approval.ts';
import type { SecretScrubber } from '../logging/scrubber.ts';
import type { Job } from '../jobs.ts';
import { resolveScriptUser, type ScriptUser } from './script-user.ts';

export interface ScriptFile {
  uid: string;
  name: string;
  /** The record the script is attached to (its approval names it). */
  recordUid: string;
  /** The approval as listed with the record; the one returned with the download is preferred. */
  approval?: ScriptApproval | null;
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
  run(task: Job, input: ScriptRun): Promise<{ summary: string; failures: number }>;
}

/** The per-gateway part of the settings, fixed at start (gateway/service.ts). */
export interface ScriptSettings {
  /** The Router's signing public key; without it (or when it cannot be had) no script runs. */
  routerSigningKey?: () => Promise<Uint8Array>;
  /** Default: resolveScriptUser() (a separate account when the gateway is root). */
  runAs?: ScriptUser;
  /** Per script; default 5 minutes. */
  timeoutMs?: number;
}

export interface DownloadedScript {
  name: string;
  bytes: Uint8Array;
  /** Digest of the ciphertext as received (core/protocol/script-approval.ts fileContentDigest). */
  contentDigest: string;
  approval?: ScriptApproval | null;
}

export interface ScriptDeps extends ScriptSettings {
  download(fileUid: string): Promise<DownloadedScript>;
  scrubber: SecretScrubber;
  logger: { info(obj: Record<string, unknown>, msg?: string): void; warn(obj: Record<string, unknown>, msg?: string): void };
  /** Lines of output kept per script in the job log; default 200. */
  maxLines?: number;
  /** Bytes of output read into the logs per script; the rest is discarded. Default 1 MiB. */
  maxOutputBytes?: number;
}

export const DEFAULT_SCRIPT_TIMEOUT_MS = 300_000;
/** The whole environment a script gets. */
export const SCRIPT_ENV_NAMES = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'HISTFILE'] as const;
// Fixed rather than the gateway's own: nothing of the gateway's environment reaches a script.
const SCRIPT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const LINE_MAX = 4000;
// After the script's own process ends, how long its output may still drain before the pipes are cut.
const DRAIN_MS = 2000;

let sharedUserWarned = false;
let defaultUser: ScriptUser | null = null;

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
          ...(input.secretKind === 'password'
            ? { oldPassword: input.oldSecret, newPassword: input.newSecret }
            : { oldPrivateKey: input.oldSecret, newPrivateKey: input.newSecret }),
        }),
      ).toString('base64');
      // The encoded line is as secret as what it encodes.
      deps.scrubber.add(payload);
      const failed: string[] = [];
      let n = 0;
      for (const file of input.files) {
        n++;
        task.step(`post-rotation script ${n}/${input.files.length}`, 90, [`Running post-rotation script "${file.name}" (${n}/${input.files.length})`]);
        const outcome = await runOne(task, file, payload, input.shell, deps).catch(
          (err: unknown) => `could not run: ${deps.scrubber.scrub(err instanceof Error ? err.message : String(err))}`,
        );
        if (outcome) {
          failed.push(`"${file.name}" ${outcome}`);
          task.log(`Post-rotation script "${file.name}" ${outcome}`);
          deps.logger.warn({ jobUid: task.jobUid, script: file.name, fileUid: file.uid, recordUid: file.recordUid, outcome }, 'post-rotation script failed');
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

/** Null when the script may run; else why not, in the words the job log shows. */
async function approvalRefusal(file: ScriptFile, downloaded: DownloadedScript, deps: ScriptDeps): Promise<string | null> {
  const approve = `ask an administrator (a holder of the manage_rotation_scripts policy) to review it and run \`postern record approve-script ${file.uid}\``;
  const approval = downloaded.approval ?? file.approval ?? null;
  if (!approval) return `was not run: it is not approved by an administrator; ${approve}`;
  let key: Uint8Array;
  try {
    if (!deps.routerSigningKey) throw new Error('this gateway has no Router signing key');
    key = await deps.routerSigningKey();
  } catch (err) {
    return `was not run: its approval could not be checked (${deps.scrubber.scrub(err instanceof Error ? err.message : String(err))}); restart the gateway once it can reach the Router, or re-initialise it`;
  }
  if (!(await verifyScriptApproval(key, { fileUid: file.uid, recordUid: file.recordUid, contentDigest: downloaded.contentDigest }, approval))) {
    return `was not run: its approval does not match it (the script changed after it was approved, or the approval was not signed by this gateway's Router); ${approve}`;
  }
  return null;
}

function scriptUser(deps: ScriptDeps): ScriptUser {
  if (deps.runAs) return deps.runAs;
  defaultUser ??= resolveScriptUser();
  return defaultUser;
}

/**
 * Closes the descriptors this process inherited without close-on-exec from whatever started it
 * (a supervisor's pipe, a shell's redirection), which every script would inherit in turn: Node
 * cannot close descriptors in a child it spawns, and all it opens itself is close-on-exec. The
 * IPC channel to a parent Node process, if any, is kept (it is close-on-exec too).
 */
export function closeInheritableDescriptors(): void {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return; // no /proc: not Linux
  }
  const channel = (process.channel as { fd?: number } | undefined)?.fd;
  for (const name of names) {
    const fd = Number(name);
    if (fd < 3 || fd === channel) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & 0o2000000) === 0) closeSync(fd);
    } catch {
      // closed meanwhile (the directory listing's own descriptor)
    }
  }
}

/** SIGKILL to the script's whole process group: its children and grandchildren too. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function outcomeOf(code: number | null, signal: NodeJS.Signals | null): string | null {
  return code === 0 ? null : signal ? `was stopped by ${signal}` : `exited with code ${code}`;
}

/** Runs one script; resolves to null on success, or a short description of the failure. */
async function runOne(task: Job, file: ScriptFile, payload: string, shell: string | undefined, deps: ScriptDeps): Promise<string | null> {
  const downloaded = await deps.download(file.uid);
  const refusal = await approvalRefusal(file, downloaded, deps);
  if (refusal) return refusal;
  const user = scriptUser(deps);
  if (!user.separate && typeof process.getuid === 'function' && process.getuid() === 0)
    return 'was not run: this gateway runs as root and has no separate user to run scripts as';
  if (!user.separate && !sharedUserWarned) {
    sharedUserWarned = true;
    deps.logger.warn(
      { scriptUser: user.name },
      `post-rotation scripts run as this gateway's own user (${user.name}) and can read its configuration; run the gateway as root with --script-user to give them a separate account`,
    );
  }
  const { bytes } = downloaded;
  const dir = mkdtempSync(join(tmpdir(), 'postern-script-'));
  try {
    chmodSync(dir, 0o700);
    const path = join(dir, 'script');
    writeFileSync(path, bytes, { mode: 0o700 });
    if (user.separate) {
      chownSync(path, user.uid, user.gid);
      chownSync(dir, user.uid, user.gid);
    }
    const hasShebang = bytes[0] === 0x23 && bytes[1] === 0x21;
    const [command, args] = shell ? [shell, [path]] : hasShebang ? [path, []] : ['/bin/sh', [path]];
    const maxLines = deps.maxLines ?? 200;
    const maxBytes = deps.maxOutputBytes ?? 1024 * 1024;
    const timeoutMs = deps.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS;
    let lines = 0;
    let bytesRead = 0;
    const emit = (stream: 'stdout' | 'stderr', line: string) => {
      const clean = deps.scrubber.scrub(line.length > LINE_MAX ? `${line.slice(0, LINE_MAX)}…` : line);
      deps.logger.info({ jobUid: task.jobUid, script: file.name, stream }, clean);
      if (lines++ < maxLines) task.log(`[${file.name}] ${clean}`);
      else if (lines === maxLines + 1) task.log(`[${file.name}] … further output only in the gateway log`);
    };
    closeInheritableDescriptors();
    return await new Promise<string | null>((resolve) => {
      const child = spawn(command, args, {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group, so a timeout or a cancel ends whatever it started as well.
        detached: true,
        env: { PATH: SCRIPT_PATH, HOME: dir, TMPDIR: dir, LANG: 'C.UTF-8', HISTFILE: '/dev/null' },
        // libuv also drops the supplementary groups when it switches user.
        ...(user.separate ? { uid: user.uid, gid: user.gid } : {}),
      });
      let verdict: string | null | undefined;
      let drain: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        verdict ??= `timed out after ${Math.round(timeoutMs / 1000)} s and was stopped`;
        killGroup(child);
      }, timeoutMs);
      const onAbort = () => {
        verdict ??= 'was stopped: the job was cancelled';
        killGroup(child);
      };
      task.signal.addEventListener('abort', onAbort, { once: true });
      const settle = (fallback: string | null) => {
        clearTimeout(timer);
        clearTimeout(drain);
        task.signal.removeEventListener('abort', onAbort);
        resolve(verdict === undefined ? fallback : verdict);
      };
      for (const stream of ['stdout', 'stderr'] as const) {
        let rest = '';
        child[stream].setEncoding('utf8');
        child[stream].on('data', (chunk: string) => {
          if (bytesRead >= maxBytes) return; // read on (a blocked script would hang) but keep nothing
          bytesRead += Buffer.byteLength(chunk);
          const parts = (rest + chunk).split('\n');
          rest = parts.pop() ?? '';
          if (rest.length > LINE_MAX) {
            parts.push(rest);
            rest = '';
          }
          for (const line of parts) emit(stream, line);
          if (bytesRead >= maxBytes) emit(stream, `… output beyond ${Math.round(maxBytes / 1024)} KiB discarded`);
        });
        child[stream].on('end', () => {
          if (rest) emit(stream, rest);
        });
      }
      child.stdin.on('error', () => {}); // a script that does not read stdin
      child.stdin.end(`${payload}\n`);
      child.on('error', (err) => settle(`could not start: ${err.message}`));
      child.on('exit', () => {
        // Nothing the script started outlives it; and a descendant that left the group and
        // still holds the pipes open does not keep the job waiting.
        killGroup(child);
        drain = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          settle(outcomeOf(child.exitCode, child.signalCode));
        }, DRAIN_MS);
      });
      child.on('close', (code, signal) => settle(outcomeOf(code, signal)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
