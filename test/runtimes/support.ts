/**
 * Helpers for the runtime tests: start a Router under another runtime as a child process
 * (its own process group, so wrangler's workerd children die with it), wait for /healthz,
 * and drive it with the vault SDK from the Node test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { expect } from 'vitest';
import { randomBytes, toHex } from '../../core/crypto/index.ts';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export { freshPostgresDatabase } from '../support/router.ts';

export interface RuntimeProcess {
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// Last resort when the test process exits without reaching afterAll (a crash, a kill -INT).
process.once('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

export function startRuntimeProcess(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): RuntimeProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      output += `\n[spawn error] ${err.message}`;
      resolve();
    });
  });
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      // The leader may be gone while a grandchild (workerd) lingers: make sure the group is.
      killGroup(child, 'SIGKILL');
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // no such group: all gone
      }
      running.delete(child);
    },
  };
}

/** Polls `<url>/healthz` until it answers 200, failing early (with the output) if the process dies. */
export async function waitForHealthz(url: string, proc: RuntimeProcess, timeoutMs: number): Promise<{ status: string; version: string }> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`the runtime exited (${proc.child.exitCode ?? proc.child.signalCode}) before /healthz answered:\n${proc.output()}`);
    }
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return (await response.json()) as { status: string; version: string };
      lastError = `HTTP ${response.status}: ${await response.text()}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`/healthz did not answer within ${timeoutMs} ms (${lastError}):\n${proc.output()}`);
}

/** Register → login → whoami → add a record → read it back, all through the vault SDK. */
export async function vaultRoundTrip(url: string, expectedRouterKey?: Uint8Array): Promise<void> {
  const transport = await VaultTransport.connect(url);
  if (expectedRouterKey) expect(transport.routerPublicKey).toEqual(expectedRouterKey);
  const email = `runtime-${toHex(randomBytes(4))}@example.com`;
  const { userUid } = await registerAccount(transport, email, 'correct horse battery staple');
  const client = await VaultClient.login(transport, email, 'correct horse battery staple');
  const me = await client.whoami();
  expect(me).toMatchObject({ userUid, email });
  expect(me.sessionExpiresAt).toBeGreaterThan(Date.now());
  const uid = await client.addRecord(newRecordData('login', 'runtime check', { login: 'admin', password: 'canary-runtime-pw' }));
  const record = await client.getRecord(uid);
  expect(record.data.title).toBe('runtime check');
  expect(record.data.fields['password']).toBe('canary-runtime-pw');
}
