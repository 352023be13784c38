/**
 * A scaled-out Router made of real processes for a test: `postern server start --role …`
 * children sharing one fresh PostgreSQL database (POSTERN_TEST_DATABASE), one NATS broker
 * (POSTERN_TEST_NATS) and one Router key. Every child is killed when the test process exits,
 * whatever happens to the test.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateRouterKeys, ROUTER_KEY_FILE } from '../../router/adapters/node/router-key.ts';
import { spawnCli } from '../cli/support.ts';
import { requireService } from '../support/services.ts';

export const TEST_DATABASE = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');
export const TEST_NATS = requireService('NATS', 'POSTERN_TEST_NATS');

/** Why the cluster suites cannot run here, or null when they can. */
export function clusterSkipReason(): string | null {
  const missing = [TEST_DATABASE ? null : 'POSTERN_TEST_DATABASE (PostgreSQL)', TEST_NATS ? null : 'POSTERN_TEST_NATS (nats-server)'].filter(Boolean);
  return missing.length ? `skipped: ${missing.join(' and ')} not set; \`npm test\` finds or starts both` : null;
}

export { freshPostgresDatabase } from '../support/router.ts';

/** A data directory per process, each holding a copy of the one Router key. */
export function dataDirsWithSharedKey<N extends string>(root: string, names: N[]): Record<N, string> {
  const first = join(root, names[0]!);
  loadOrCreateRouterKeys(first);
  const dirs = {} as Record<N, string>;
  for (const name of names) {
    const dir = join(root, name);
    if (dir !== first) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      copyFileSync(join(first, ROUTER_KEY_FILE), join(dir, ROUTER_KEY_FILE));
    }
    dirs[name] = dir;
  }
  return dirs;
}

export interface StartInfo {
  role: string;
  url: string;
  workerId?: string;
  nats?: string;
  healthz?: string;
  database: string;
  dataDir: string;
  pid: number;
}

export interface RouterProcess {
  child: ChildProcess;
  info: StartInfo;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string | null>;
  output(): { stdout: string; stderr: string };
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
}

/** `postern --json server start ARGS…`; resolves once it printed where it runs. */
export function startRouterProcess(args: string[], home: string, startTimeoutMs = 30_000): Promise<RouterProcess> {
  // POSTERN_NATS_URL from the environment must not decide a test's broker.
  const child = spawnCli(['--json', 'server', 'start', ...args], { home, env: { POSTERN_NATS_URL: undefined } });
  track(child);
  child.stdin!.end();
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | string | null>((done) => child.once('exit', (code, signal) => done(code ?? signal)));
  const output = () => ({ stdout, stderr });
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`postern server start ${args.join(' ')} did not start in ${startTimeoutMs} ms\n${stdout}\n${stderr}`));
    }, startTimeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      try {
        const info = JSON.parse(stdout) as StartInfo;
        clearTimeout(timer);
        done({ child, info, exited, output });
      } catch {
        // not complete yet
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`postern server start ${args.join(' ')} exited ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopProcess(p: RouterProcess | undefined, graceMs = 5_000): Promise<number | string | null> {
  if (!p) return null;
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}
