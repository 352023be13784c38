/**
 * Running the real `postern` CLI as a child process, the way an administrator would, with a
 * private POSTERN_HOME per simulated user.
 *
 * `node --import <tsx loader> vault/cli/bin.ts` is used rather than `npx tsx`: the latter starts
 * npm and then a second Node process, about twice the startup time (~0.8 s vs 1.5–3 s here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { saveSession } from '../../vault/cli/config.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX_LOADER = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
const BIN = join(REPO, 'vault/cli/bin.ts');
/** The gateway's executable, `postern-gateway` (gateway/cli/bin.ts). */
export const GATEWAY_BIN = join(REPO, 'gateway/cli/bin.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (fails the test with the output when it is not). */
  // biome-ignore lint/suspicious/noExplicitAny: tests read the CLI's JSON by path; a wrong path fails the assertion that reads it
  json<T = any>(): T;
  /** stderr parsed as the `--json` error document. */
  error(): { code: string; message: string; details?: Record<string, unknown> };
}

export interface RunOptions {
  home: string;
  stdin?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

function childEnv(options: { home: string; env?: Record<string, string | undefined> }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, POSTERN_HOME: options.home, NO_COLOR: '1' };
  // The parent's settings must not leak into a test.
  delete env['POSTERN_SERVER'];
  delete env['POSTERN_SECRETS_CONFIG'];
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function spawnCli(args: string[], options: RunOptions): ChildProcess {
  return spawn(process.execPath, ['--import', TSX_LOADER, BIN, ...args], {
    cwd: options.cwd ?? REPO,
    env: childEnv(options),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** `postern-gateway ARGS…` as a child process, with its own POSTERN_HOME. */
export function spawnGateway(args: string[], options: RunOptions): ChildProcess {
  return spawn(process.execPath, ['--import', TSX_LOADER, GATEWAY_BIN, ...args], {
    cwd: options.cwd ?? REPO,
    env: childEnv(options),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function runGateway(args: string[], options: RunOptions): Promise<CliResult> {
  return collect(spawnGateway(args, options), ['postern-gateway', ...args], options);
}

export function runCli(args: string[], options: RunOptions): Promise<CliResult> {
  return collect(spawnCli(args, options), ['postern', ...args], options);
}

function collect(child: ChildProcess, args: string[], options: RunOptions): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.end(options.stdin ?? '');
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => {
      const describe = () => `${args.join(' ')}\n--- exit ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
      done({
        code,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`stdout is not JSON:\n${describe()}`);
          }
        },
        error() {
          try {
            return (JSON.parse(stderr) as { error: { code: string; message: string } }).error;
          } catch {
            throw new Error(`stderr is not a JSON error:\n${describe()}`);
          }
        },
      });
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** One simulated administrator: their own POSTERN_HOME, talking to one server. */
export class CliUser {
  readonly email: string;
  readonly password: string;
  readonly home: string;
  readonly server: string;

  constructor(server: string, email: string, password = `${email} long master passphrase`) {
    this.server = server;
    this.email = email;
    this.password = password;
    this.home = tempDir('postern-cli-home-');
  }

  /** `postern --server <router> ARGS…` as this user. */
  run(args: string[], options: Omit<RunOptions, 'home'> = {}): Promise<CliResult> {
    return runCli(['--server', this.server, ...args], { home: this.home, ...options });
  }

  /** Like `run`, and fails the test (showing the output) unless the exit code is 0. */
  async ok(args: string[], options: Omit<RunOptions, 'home'> = {}): Promise<CliResult> {
    const result = await this.run(args, options);
    if (result.code !== 0) throw new Error(`postern ${args.join(' ')} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
    return result;
  }

  async register(): Promise<void> {
    await this.ok(['register', '--email', this.email, '--password-stdin'], { stdin: `${this.password}\n` });
  }

  /** Creates the account through the SDK, in-process: setup for suites that test other commands. */
  async registerWithSdk(): Promise<void> {
    await registerAccount(await VaultTransport.connect(this.server), this.email, this.password);
  }

  /**
   * Logs in through the SDK, in-process, and saves the session where the CLI finds it, as
   * `postern login` would: setup for suites that test other commands. Returns the SDK client.
   */
  async loginWithSdk(): Promise<VaultClient> {
    const vault = await VaultClient.login(await VaultTransport.connect(this.server), this.email, this.password);
    saveSession(this.home, vault.session);
    return vault;
  }

  async login(): Promise<void> {
    await this.ok(['login', '--email', this.email, '--password-stdin'], { stdin: `${this.password}\n` });
  }

  cleanup(): void {
    removeDir(this.home);
  }
}
