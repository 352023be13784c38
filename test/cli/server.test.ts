/**
 * `postern server start`: the Router in the foreground, where it keeps its data, and a clean
 * stop on SIGTERM.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, spawnCli, tempDir } from './support.ts';

describe('postern server start', () => {
  const home = tempDir('postern-cli-server-');
  afterAll(() => removeDir(home));

  it('serves the Router from $POSTERN_HOME/server and stops cleanly on SIGTERM', async () => {
    const child = spawnCli(['--json', 'server', 'start', '--port', '0'], { home });
    let stdout = '';
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const info = await new Promise<{ url: string; dataDir: string; database: string; logs: string; routerKey: string }>((done, fail) => {
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
    try {
      expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.dataDir).toBe(join(home, 'server'));
      expect(info.database).toBe(join(home, 'server', 'postern.db'));
      const response = await fetch(`${info.url}/api/v1/router-key`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ publicKey: expect.any(String) });
      expect(existsSync(info.database)).toBe(true);
      expect(existsSync(info.logs)).toBe(true);
      expect(statSync(info.routerKey).mode & 0o777).toBe(0o600);
      expect(statSync(home).mode & 0o777).toBe(0o700);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/Router stopped/);
  });
});
