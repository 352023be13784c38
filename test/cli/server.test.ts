/**
 * `postern server start`: the Router in the foreground, where it keeps its data, and a clean
 * stop on SIGTERM.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, spawnCli, tempDir } from './support.ts';

interface ServerInfo {
  url: string;
  dataDir: string;
  database: string;
  logs: string;
  routerKey: string;
}

/** `postern --json server start ARGS…` until it prints where it serves; `stop()` sends SIGTERM and returns the exit code and stderr. */
async function startServer(args: string[], home: string): Promise<{ info: ServerInfo; stop: () => Promise<{ code: number | null; stderr: string }> }> {
  const child = spawnCli(['--json', 'server', 'start', ...args], { home });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const info = await new Promise<ServerInfo>((done, fail) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      try {
        done(JSON.parse(stdout));
      } catch {
        // not complete yet
      }
    });
    void exited.then((code) => fail(new Error(`server exited ${code}\n${stdout}\n${stderr}`)));
  });
  return {
    info,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      return { code, stderr };
    },
  };
}

async function routerPublicKey(url: string): Promise<string> {
  const response = await fetch(`${url}/api/v1/router-key`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { publicKey: string }).publicKey;
}

describe('postern server start', () => {
  const home = tempDir('postern-cli-server-');
  const elsewhere = tempDir('postern-cli-server-data-');
  afterAll(() => {
    removeDir(home);
    removeDir(elsewhere);
  });

  it('serves the Router from $POSTERN_HOME/server and stops cleanly on SIGTERM', async () => {
    const server = await startServer(['--port', '0'], home);
    const { info } = server;
    let stopped: { code: number | null; stderr: string } | undefined;
    try {
      expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.dataDir).toBe(join(home, 'server'));
      expect(info.database).toBe(join(home, 'server', 'postern.db'));
      expect(await routerPublicKey(info.url)).toEqual(expect.any(String));
      expect(existsSync(info.database)).toBe(true);
      expect(existsSync(info.logs)).toBe(true);
      expect(statSync(info.routerKey).mode & 0o777).toBe(0o600);
      expect(statSync(home).mode & 0o777).toBe(0o700);
    } finally {
      stopped = await server.stop();
    }
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toMatch(/Router stopped/);
  });

  it('keeps its database, key and logs in --data DIR, and the same key pair across restarts', async () => {
    const data = join(elsewhere, 'router data');
    const otherHome = tempDir('postern-cli-server-home-');
    try {
      const first = await startServer(['--data', data, '--port', '0'], otherHome);
      let publicKey: string;
      try {
        expect(first.info).toMatchObject({
          dataDir: data,
          database: join(data, 'postern.db'),
          routerKey: join(data, 'router-key.json'),
          logs: join(data, 'logs', 'router.log'),
        });
        publicKey = await routerPublicKey(first.info.url);
        expect(existsSync(first.info.database)).toBe(true);
        expect(existsSync(first.info.logs)).toBe(true);
        expect(statSync(first.info.routerKey).mode & 0o777).toBe(0o600);
        expect(readdirSync(data).sort()).toEqual(expect.arrayContaining(['logs', 'postern.db', 'router-key.json']));
        // Nothing goes to the default place.
        expect(existsSync(join(otherHome, 'server'))).toBe(false);
      } finally {
        expect((await first.stop()).code).toBe(0);
      }
      const second = await startServer(['--data', data, '--port', '0'], otherHome);
      try {
        expect(second.info.dataDir).toBe(data);
        expect(await routerPublicKey(second.info.url)).toBe(publicKey);
      } finally {
        expect((await second.stop()).code).toBe(0);
      }
    } finally {
      removeDir(otherHome);
    }
  }, 120_000);
});
