/**
 * The parts of scale-out that need no broker: the sticky cookie's exact form, and
 * `postern server start --role …` refusing what cannot work (SQLite, no NATS, odd ids).
 */
import { PassThrough } from 'node:stream';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { startNodeRouter } from '../../router/adapters/node/index.ts';
import { LocalBus } from '../../router/cluster/bus.ts';
import { STICKY_COOKIE, stickyCookie, stickyWorkerCookie } from '../../router/http/sticky.ts';
import { defaultWorkerId } from '../../vault/cli/commands/server.ts';
import type { CliIo } from '../../vault/cli/output.ts';
import { main } from '../../vault/cli/program.ts';
import { removeDir, tempDir } from '../cli/support.ts';

describe('sticky cookie', () => {
  it('is the Worker id and nothing else, for 7 days', () => {
    const cookie = stickyCookie('worker-7', false);
    expect(cookie).toBe('postern_worker=worker-7; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax');
    const value = cookie.split(';')[0]!.slice(`${STICKY_COOKIE}=`.length);
    expect(value).toBe('worker-7');
    expect(stickyCookie('worker-7', true)).toBe(`${cookie}; Secure`);
    expect(() => stickyCookie('a;b', false)).toThrow(/not usable/);
    expect(() => stickyCookie('', false)).toThrow(/not usable/);
  });

  it('is added to successes, errors and thrown errors, Secure only over https', async () => {
    const app = new Hono();
    app.onError((_err, c) => c.json({ error: 'boom' }, 500));
    app.use('/v/*', stickyWorkerCookie('w1'));
    app.get('/v/ok', (c) => c.json({ ok: true }));
    app.get('/v/raw', () => new Response('raw', { headers: { 'set-cookie': 'other=1' } }));
    app.get('/v/throw', () => {
      throw new Error('boom');
    });
    app.get('/other', (c) => c.text('no cookie'));
    const plain = 'postern_worker=w1; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax';
    expect((await app.request('http://x/v/ok')).headers.getSetCookie()).toEqual([plain]);
    expect((await app.request('http://x/v/raw')).headers.getSetCookie()).toEqual(['other=1', plain]);
    const thrown = await app.request('http://x/v/throw');
    expect(thrown.status).toBe(500);
    expect(thrown.headers.getSetCookie()).toEqual([plain]);
    expect((await app.request('https://x/v/ok')).headers.getSetCookie()).toEqual([`${plain}; Secure`]);
    expect((await app.request('http://x/v/ok', { headers: { 'x-forwarded-proto': 'https, http' } })).headers.getSetCookie()).toEqual([`${plain}; Secure`]);
    expect((await app.request('http://x/other')).headers.getSetCookie()).toEqual([]);
  });

  it('is set by a clustered Router only', async () => {
    const dirs = [tempDir('postern-sticky-'), tempDir('postern-sticky-')];
    const embedded = await startNodeRouter({ dataDir: dirs[0]!, port: 0 });
    const clustered = await startNodeRouter({ dataDir: dirs[1]!, port: 0, cluster: { workerId: 'w-local', bus: new LocalBus() } });
    try {
      const ask = (url: string) => fetch(`${url}/api/v1/vault/account.prelogin`, { method: 'POST', body: '{}' });
      expect((await ask(embedded.url)).headers.getSetCookie()).toEqual([]);
      expect((await ask(clustered.url)).headers.getSetCookie()).toEqual(['postern_worker=w-local; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax']);
    } finally {
      await embedded.close();
      await clustered.close();
      for (const d of dirs) removeDir(d);
    }
  });
});

describe('postern server start --role', () => {
  const home = tempDir('postern-roles-');
  afterAll(() => removeDir(home));

  /** The CLI in-process (a child process per refusal costs ~1 s each): exit code and the JSON error. */
  async function run(args: string[]): Promise<{ code: number; error: { code: string; message: string }; stderr: string }> {
    let out = '';
    let err = '';
    const io: CliIo = {
      stdout: { write: (c: string | Uint8Array) => (out += String(c)) },
      stderr: { write: (c: string) => (err += c) },
      stdin: new PassThrough() as unknown as NodeJS.ReadStream,
      env: { POSTERN_HOME: home },
    };
    const code = await main(['node', 'postern', '--json', 'server', 'start', '--data', `${home}/data`, '--port', '0', ...args], io);
    if (out) throw new Error(`expected a refusal, got ${out}`);
    return { code, error: (JSON.parse(err) as { error: { code: string; message: string } }).error, stderr: err };
  }

  it('derives a usable default Worker id from the host name and pid', () => {
    expect(defaultWorkerId('web-01.example.com', 42)).toBe('web-01-42');
    expect(defaultWorkerId('weird host_name', 7)).toBe('weird-host_name-7');
    expect(defaultWorkerId('...', 7)).toBe('router-7');
  });

  it('refuses a Head or Worker on SQLite or without a bus, in the adapter too', async () => {
    const dataDir = tempDir('postern-roles-adapter-');
    try {
      await expect(startNodeRouter({ dataDir, port: 0, role: 'worker', cluster: { workerId: 'w1', bus: new LocalBus() } })).rejects.toThrow(/needs PostgreSQL/);
      await expect(startNodeRouter({ dataDir, port: 0, role: 'head', database: 'postgres://x@127.0.0.1/x' })).rejects.toThrow(/needs the cluster bus/);
    } finally {
      removeDir(dataDir);
    }
  });

  it('refuses what a Head or Worker cannot run on', async () => {
    // commander reads --nats's fallback from the real environment.
    const saved = process.env['POSTERN_NATS_URL'];
    delete process.env['POSTERN_NATS_URL'];
    try {
      const sqlite = await run(['--role', 'worker', '--nats', 'nats://127.0.0.1:4222']);
      expect(sqlite.code).toBe(2);
      expect(sqlite.error.message).toMatch(/--role worker needs PostgreSQL.*SQLite/);
      const noNats = await run(['--role', 'head', '--database', 'postgres://postern@127.0.0.1/postern']);
      expect(noNats.code).toBe(2);
      expect(noNats.error.message).toMatch(/--role head needs the NATS broker.*--nats.*POSTERN_NATS_URL/);
      const badId = await run(['--role', 'worker', '--worker-id', 'a.b']);
      expect(badId.code).toBe(2);
      expect(badId.error.message).toMatch(/--worker-id/);
      const badRole = await run(['--role', 'both']);
      expect(badRole.code).toBe(2);
      expect(badRole.error.message).toMatch(/embedded, head, worker/);
      const natsEmbedded = await run(['--nats', 'nats://127.0.0.1:4222']);
      expect(natsEmbedded.code).toBe(2);
      expect(natsEmbedded.error.message).toMatch(/--nats is for --role head or --role worker/);
      const idEmbedded = await run(['--worker-id', 'w1']);
      expect(idEmbedded.code).toBe(2);
      expect(idEmbedded.error.message).toMatch(/--worker-id is for --role head or --role worker/);
      const unreachable = await run(['--role', 'worker', '--database', 'postgres://postern@127.0.0.1/postern', '--nats', 'nats://user:pw@127.0.0.1:1']);
      expect(unreachable.code).toBe(1);
      expect(unreachable.error.message).toMatch(/Cannot connect to NATS at nats:\/\/\*\*\*@127\.0\.0\.1:1/);
      expect(unreachable.stderr).not.toContain('pw@');
    } finally {
      if (saved !== undefined) process.env['POSTERN_NATS_URL'] = saved;
    }
  });
});
