/**
 * Who runs post-rotation scripts (./scripts.ts). A gateway running as root (the usual case in a
 * container) switches to a separate unprivileged account for each script, so the script cannot
 * read the gateway's configuration (the keys to every secret shared to its application), its
 * logs or its memory: `--script-user NAME`, else `postern-script` when that account exists,
 * else `nobody`. A gateway running as an ordinary user cannot switch, and its scripts run as
 * that same user: they can read everything the gateway can (docs/decisions/0007-post-rotation-scripts.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { PosternError } from '../../core/errors.ts';

export interface ScriptUser {
  name: string;
  uid: number;
  gid: number;
  /** True when scripts run as another account than the gateway's (the gateway is root). */
  separate: boolean;
}

/** The account a root gateway uses when `--script-user` is not given and it exists. */
export const DEFAULT_SCRIPT_USER = 'postern-script';
const FALLBACK_SCRIPT_USER = 'nobody';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function lookup(name: string): { uid: number; gid: number } | null {
  // Names only; anything else could be read by `id` as an option or a numeric uid.
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(name)) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isSafeInteger(uid) && Number.isSafeInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** Resolves the account scripts run as, once at start; a bad `--script-user` stops the start. */
export function resolveScriptUser(requested?: string): ScriptUser {
  if (!isRoot()) {
    const self = userInfo();
    if (requested !== undefined && requested !== self.username) {
      throw new PosternError(
        'bad_request',
        `--script-user ${requested} needs the gateway to run as root (it switches to that account for each script); this gateway runs as ${self.username}. Drop --script-user, or start the gateway as root.`,
      );
    }
    return { name: self.username, uid: self.uid, gid: self.gid, separate: false };
  }
  const name = requested ?? (lookup(DEFAULT_SCRIPT_USER) ? DEFAULT_SCRIPT_USER : FALLBACK_SCRIPT_USER);
  const ids = lookup(name);
  if (!ids) {
    throw new PosternError(
      'bad_request',
      `Post-rotation scripts cannot run as "${name}": no such user on this machine. Create it (\`useradd --system --no-create-home --shell /usr/sbin/nologin ${name}\`) or pass --script-user with an existing unprivileged user.`,
    );
  }
  if (ids.uid === 0 || ids.gid === 0) {
    throw new PosternError(
      'not_allowed',
      `Post-rotation scripts must not run as root, and "${name}" has uid ${ids.uid}, gid ${ids.gid}. Pass --script-user with an unprivileged user.`,
    );
  }
  return { name, ...ids, separate: true };
}

/** Whether `user` could use `mode` (r, w) on `path`, asked of the kernel as that user (ACLs included). */
function canAccess(user: ScriptUser, path: string, mode: 'r' | 'w'): boolean {
  const run = spawnSync('/bin/sh', ['-c', `test -${mode} "$1"`, 'sh', path], { uid: user.uid, gid: user.gid, env: {}, stdio: 'ignore', timeout: 10_000 });
  return run.status === 0;
}

/**
 * Refuses to start when the script account could read the configuration file, or replace it
 * (own or write its directory); returns a warning when it can only list the directory.
 */
export function checkConfigHidden(user: ScriptUser, configPath: string): string | null {
  if (!user.separate) return null;
  const dir = dirname(configPath);
  if (statSync(configPath).uid === user.uid || canAccess(user, configPath, 'r')) {
    throw new PosternError(
      'not_allowed',
      `Post-rotation scripts run as ${user.name}, who can read ${configPath} (the gateway's keys). Make it belong to the gateway's user with mode 0600 (\`chown root: ${configPath} && chmod 600 ${configPath}\`), or choose another --script-user.`,
    );
  }
  const st = statSync(dir);
  const sticky = (st.mode & 0o1000) !== 0;
  if (st.uid === user.uid || (!sticky && canAccess(user, dir, 'w'))) {
    throw new PosternError(
      'not_allowed',
      `Post-rotation scripts run as ${user.name}, who can replace files in ${dir}, where the gateway's configuration is. Make the directory belong to the gateway's user with mode 0700, or choose another --script-user.`,
    );
  }
  return canAccess(user, dir, 'r')
    ? `Post-rotation scripts run as ${user.name}, who can list ${dir} (not read the configuration in it); mode 0700 on it hides the names too.`
    : null;
}
