/**
 * `postern server start`: the Router in the foreground, where it keeps its data, and a clean
 * stop on SIGTERM.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorCode, TurnTestClient } from '../../relay/adapters/node/testing/turn-test-client.ts';
import { CliUser, removeDir, spawnCli, tempDir } from './support.ts';

interface ServerInfo {
  url: string;
  dataDir: string;
  database: string;
  logs: string;
  routerKey: string;
  relay: { urls: string[]; embedded: boolean } | null;
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

  it('tells a person on another port the exact line that points postern at it', async () => {
    const banner = tempDir('postern-cli-server-banner-');
    const child = spawnCli(['server', 'start', '--port', '0'], { home: banner });
    let stdout = '';
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await new Promise<void>((done, fail) => {
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          if (stdout.includes('Press Ctrl-C to stop.')) done();
        });
        void exited.then((code) => fail(new Error(`server exited ${code}\n${stdout}`)));
      });
      const url = /^Postern Router listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)?.[1];
      expect(url, stdout).toBeDefined();
      expect(stdout).toContain(`Clients on this machine: export POSTERN_SERVER=${url}\n`);
    } finally {
      child.kill('SIGTERM');
      await exited;
      removeDir(banner);
    }
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

  it('runs the embedded Relay, whose TURN credentials come from the Router, and --no-relay turns it off', async () => {
    const relayHome = tempDir('postern-cli-server-relay-');
    try {
      const server = await startServer(['--port', '0', '--relay-port', '0'], relayHome);
      try {
        const urls = server.info.relay!.urls;
        expect(server.info.relay!.embedded).toBe(true);
        expect(urls).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/^turn:127\.0\.0\.1:\d+\?transport=udp$/),
            expect.stringMatching(/^turn:127\.0\.0\.1:\d+\?transport=tcp$/),
          ]),
        );
        expect(statSync(join(server.info.dataDir, 'relay-secret')).mode & 0o777).toBe(0o600);
        const user = new CliUser(server.info.url, 'relay-user@example.com');
        await user.registerWithSdk();
        const vault = await user.loginWithSdk();
        const { iceServers, expiresAt } = await vault.relayCredentials();
        expect(iceServers).toHaveLength(1);
        expect(iceServers[0]!.urls).toEqual(urls);
        expect(expiresAt).toBeGreaterThan(Date.now());
        const port = Number(/:(\d+)\?transport=udp/.exec(urls.find((u) => u.endsWith('udp'))!)![1]);
        const client = await TurnTestClient.open('udp', { address: '127.0.0.1', port });
        try {
          const allocated = await client.allocate(iceServers[0]!.username, iceServers[0]!.credential);
          expect(errorCode(allocated)).toBeUndefined();
          expect(allocated.messageClass).toBe('success');
        } finally {
          client.close();
        }
        const forged = await TurnTestClient.open('udp', { address: '127.0.0.1', port });
        try {
          expect(errorCode(await forged.allocate(iceServers[0]!.username, 'not-the-password'))).toBe(401);
        } finally {
          forged.close();
        }
        user.cleanup();
      } finally {
        const stopped = await server.stop();
        expect(stopped.code, stopped.stderr).toBe(0);
      }
      const bare = await startServer(['--port', '0', '--no-relay'], relayHome);
      try {
        expect(bare.info.relay).toBeNull();
      } finally {
        const stopped = await bare.stop();
        expect(stopped.code, stopped.stderr).toBe(0);
      }
    } finally {
      removeDir(relayHome);
    }
  }, 120_000);
});

/** Issue 10 item 12: the database and SQLite's -wal and -shm beside it are for the Router's user alone. */
describe('postern server start: database file modes', () => {
  const home = tempDir('postern-modes-home-');
  const data = tempDir('postern-modes-data-');
  afterAll(() => {
    removeDir(home);
    removeDir(data);
  });

  async function modesAfterStart(dir: string): Promise<Record<string, string>> {
    const server = await startServer(['--data', dir, '--port', '0', '--no-relay'], home);
    try {
      // A write through the Router, so SQLite has its -wal and -shm open.
      expect((await fetch(`${server.info.url}/api/v1/vault/account.prelogin`, { method: 'POST', body: '{}' })).status).toBe(400);
      const db = server.info.database;
      return Object.fromEntries([db, `${db}-wal`, `${db}-shm`].map((f) => [f, existsSync(f) ? (statSync(f).mode & 0o777).toString(8) : 'missing']));
    } finally {
      await server.stop();
    }
  }

  it('creates them 0600 in an existing 0755 --data directory, and narrows a world-readable one', async () => {
    // threat model (docs/threat-model.md): database-only attacker (another local account reading the file)
    chmodSync(data, 0o755);
    const fresh = await modesAfterStart(data);
    expect(Object.values(fresh)).toEqual(['600', '600', '600']);

    const older = join(data, 'older');
    mkdirSync(older, { mode: 0o755 });
    writeFileSync(join(older, 'postern.db'), '');
    chmodSync(join(older, 'postern.db'), 0o644);
    expect(Object.values(await modesAfterStart(older))).toEqual(['600', '600', '600']);
  });
});
