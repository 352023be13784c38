/**
 * The CLI's local state: `~/.postern/` (or `$POSTERN_HOME`), mode 0700, holding
 *
 *   config.json            one saved session per server and the Router key each server
 *                          presented (mode 0600), see `CliConfig`
 *   seen-revisions.json    the newest revision of each record seen, per server and user (0600):
 *                          a server serving an older one is refused (core/vault-client/seen-revisions.ts)
 *   secrets-config.json    a device configuration written by `postern secrets init` (0600)
 *   server/                the data of `postern server start` (database, router key, logs)
 *
 * The saved session is the SDK's `PersistedSession`: a session token and a client key that
 * together open the session's copy of the data key held by the Router. It is useless once the
 * session ends (logout or expiry) and it never contains the master password.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { writePrivateFile } from '../../node/private-file.ts';
import { PosternError } from '../../core/errors.ts';
import { mergeSeenRevisions, type PersistedSession, type SeenRevisionEntry, type SeenRevisionsStore } from '../../core/vault-client/index.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

const sessionSchema = z.object({
  server: z.string().min(1),
  routerPublicKey: z.string().min(1),
  email: z.string().min(1),
  userUid: z.string().min(1),
  sessionToken: z.string().min(1),
  clientKey: z.string().min(1),
});

const configSchema = z.object({
  version: z.literal(1),
  /** The server of the last successful login, kept after logout: the default for `--server`. */
  currentServer: z.string().optional(),
  /** Keyed by the normalised server URL (`http://127.0.0.1:8080`, `https://vault.example.com`). */
  sessions: z.record(z.string(), sessionSchema),
  /**
   * The Router key each server presented when it was last trusted, like SSH's known_hosts. Kept
   * after logout: a server that later presents another key is refused until the user confirms it.
   */
  knownRouters: z.record(z.string(), z.object({ publicKey: z.string().min(1), trustedAt: z.number().int() })).optional(),
});

export type CliConfig = z.infer<typeof configSchema>;

/** `$POSTERN_HOME` when set (tests and multi-profile use), else `~/.postern`. */
export function posternHome(env: NodeJS.ProcessEnv): string {
  const fromEnv = env['POSTERN_HOME'];
  return fromEnv && fromEnv.trim() !== '' ? resolve(fromEnv) : join(homedir(), '.postern');
}

/** Creates the home directory if needed and keeps it private (0700): it holds session keys. */
export function ensureHome(home: string): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  if ((statSync(home).mode & 0o777) !== 0o700) chmodSync(home, 0o700);
}

export function configPath(home: string): string {
  return join(home, 'config.json');
}

export function readConfig(home: string, warn: (text: string) => void = () => {}): CliConfig {
  const path = configPath(home);
  if (!existsSync(path)) return { version: 1, sessions: {} };
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    chmodSync(path, 0o600);
    warn(`${path} was readable by other users (mode ${mode.toString(8)}); it is now 0600. Consider \`postern logout\` and logging in again.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new PosternError('bad_request', `${path} is not valid JSON. Remove it and run \`postern login\` again.`);
  }
  const result = configSchema.safeParse(parsed);
  if (!result.success) throw new PosternError('bad_request', `${path} is not a Postern CLI configuration. Remove it and run \`postern login\` again.`);
  return result.data;
}

export function writeConfig(home: string, config: CliConfig): void {
  ensureHome(home);
  writePrivateFile(configPath(home), `${JSON.stringify(config, null, 2)}\n`, { overwrite: true });
}

export function saveSession(home: string, session: PersistedSession): void {
  const config = readConfig(home);
  config.sessions[session.server] = { ...session };
  config.currentServer = session.server;
  // Logging in trusts the key the session was made with (the caller has checked it against the known one).
  if (config.knownRouters?.[session.server]?.publicKey !== session.routerPublicKey) {
    config.knownRouters = { ...config.knownRouters, [session.server]: { publicKey: session.routerPublicKey, trustedAt: Date.now() } };
  }
  writeConfig(home, config);
}

/** The Router key last trusted for `server` (a saved session's key counts, for configs written before knownRouters). */
export function knownRouterKey(config: CliConfig, server: string): string | undefined {
  return config.knownRouters?.[server]?.publicKey ?? config.sessions[server]?.routerPublicKey;
}

export function trustRouterKey(home: string, server: string, publicKey: string, now: number = Date.now()): void {
  const config = readConfig(home);
  if (config.knownRouters?.[server]?.publicKey === publicKey) return;
  config.knownRouters = { ...config.knownRouters, [server]: { publicKey, trustedAt: now } };
  writeConfig(home, config);
}

export function seenRevisionsPath(home: string): string {
  return join(home, 'seen-revisions.json');
}

/** Accounts whose seen revisions are kept; the least recently used go first. */
const MAX_SEEN_REVISION_ACCOUNTS = 32;

const seenRevisionsFileSchema = z.object({
  version: z.literal(1),
  /** Keyed by `<server> <userUid>`, least recently saved first. */
  accounts: z.record(z.string(), z.array(z.tuple([z.string(), z.number().int(), z.string()]))),
});

function readSeenRevisionsFile(home: string): z.infer<typeof seenRevisionsFileSchema> {
  const path = seenRevisionsPath(home);
  if (!existsSync(path)) return { version: 1, accounts: {} };
  const parsed = seenRevisionsFileSchema.safeParse(
    (() => {
      try {
        return JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        return null;
      }
    })(),
  );
  // Refusing to run over a damaged file would lock the user out; forgetting only weakens detection.
  return parsed.success ? parsed.data : { version: 1, accounts: {} };
}

/** The vault client's revision memory for one server and user, in $POSTERN_HOME/seen-revisions.json. */
export function seenRevisionsStore(home: string, server: string, userUid: string): SeenRevisionsStore {
  const key = `${server} ${userUid}`;
  return {
    load: () => readSeenRevisionsFile(home).accounts[key] ?? [],
    save: (entries: SeenRevisionEntry[]) => {
      // Re-read and merge: another postern process may have saved newer revisions meanwhile.
      const file = readSeenRevisionsFile(home);
      const merged = mergeSeenRevisions(file.accounts[key] ?? [], entries);
      delete file.accounts[key];
      file.accounts[key] = merged;
      const keys = Object.keys(file.accounts);
      for (const old of keys.slice(0, Math.max(0, keys.length - MAX_SEEN_REVISION_ACCOUNTS))) delete file.accounts[old];
      ensureHome(home);
      writePrivateFile(seenRevisionsPath(home), `${JSON.stringify(file)}\n`, { overwrite: true });
    },
  };
}

export function forgetSession(home: string, server: string): boolean {
  const config = readConfig(home);
  if (!config.sessions[server]) return false;
  delete config.sessions[server];
  // The server stays the default: the next `postern login` goes back to it without --server.
  writeConfig(home, config);
  return true;
}
