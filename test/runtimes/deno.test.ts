/**
 * The Router under Deno (the npm `deno` binary), driven over real HTTP by the vault SDK in this
 * Node process: `deno run router/adapters/deno/main.ts` on PostgreSQL through npm:pg when the
 * suite has a server, and `deno serve router/adapters/deno/serve-entry.ts` on SQLite through
 * Deno's built-in node:sqlite always. Permissions are as narrow as the Router allows.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Url, generateP256KeyPair, p256PublicKey, toBase64Url } from '../../core/crypto/index.ts';
import { freePort, freshPostgresDatabase, startRuntimeProcess, vaultRoundTrip, waitForHealthz, type RuntimeProcess } from './support.ts';
import { requireService } from '../support/services.ts';

const repo = resolve(import.meta.dirname, '../..');
const deno = join(repo, 'node_modules/.bin/deno');
const pgBase = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');

interface Started {
  url: string;
  proc: RuntimeProcess;
  startupMs: number;
  cleanup: () => Promise<void>;
}

async function startDeno(args: string[], env: Record<string, string>, port: number): Promise<Started> {
  const t0 = Date.now();
  const proc = startRuntimeProcess(deno, args, {
    cwd: repo,
    env: {
      PATH: process.env['PATH'] ?? '',
      // Deno keeps its transpile cache under $DENO_DIR or ~/.cache/deno.
      HOME: process.env['HOME'] ?? tmpdir(),
      ...(process.env['DENO_DIR'] ? { DENO_DIR: process.env['DENO_DIR'] } : {}),
      DENO_NO_UPDATE_CHECK: '1',
      NO_COLOR: '1',
      POSTERN_HOST: '127.0.0.1',
      POSTERN_PORT: String(port),
      ...env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHealthz(url, proc, 45_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, proc, startupMs: Date.now() - t0, cleanup: () => proc.stop() };
}

const pgTitle = pgBase
  ? 'Router under `deno run` on PostgreSQL (npm:pg)'
  : 'Router under `deno run` on PostgreSQL (npm:pg) [skipped: POSTERN_TEST_DATABASE is unset; `npm test` finds or starts PostgreSQL]';

describe.skipIf(!pgBase)(pgTitle, () => {
  const key = generateP256KeyPair();
  let started: Started | undefined;
  let drop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const db = await freshPostgresDatabase(pgBase!);
    drop = db.drop;
    const pgHost = new URL(pgBase!);
    const port = await freePort();
    started = await startDeno(
      [
        'run',
        '--no-prompt',
        `--allow-net=127.0.0.1:${port},${pgHost.hostname}:${pgHost.port || '5432'}`,
        '--allow-env=POSTERN_*,PG*',
        'router/adapters/deno/main.ts',
      ],
      { POSTERN_DATABASE: db.url, POSTERN_ROUTER_KEY: toBase64Url(key.privateKey) },
      port,
    );
  });
  afterAll(async () => {
    await started?.cleanup();
    await drop?.();
  });

  it('answers /healthz and a vault round trip with the key from POSTERN_ROUTER_KEY', async () => {
    const health = (await (await fetch(`${started!.url}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    const t0 = Date.now();
    await vaultRoundTrip(started!.url, key.publicKey);
    console.info(`[deno/postgres] startup ${started!.startupMs} ms, vault round trip ${Date.now() - t0} ms`);
  });
});

describe('Router under `deno serve` on SQLite (node:sqlite)', () => {
  let dataDir: string;
  let started: Started | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'postern-deno-'));
    const port = await freePort();
    started = await startDeno(
      // deno serve grants itself the listen address; the Router needs no other network access.
      [
        'serve',
        '--no-prompt',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--allow-env=POSTERN_*',
        `--allow-read=${dataDir}`,
        `--allow-write=${dataDir}`,
        'router/adapters/deno/serve-entry.ts',
      ],
      { POSTERN_DATA_DIR: dataDir },
      port,
    );
  });
  afterAll(async () => {
    await started?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers /healthz and a vault round trip with a key file it made in the data dir', async () => {
    const keyFile = join(dataDir, 'router-key.json');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const { privateKey } = JSON.parse(readFileSync(keyFile, 'utf8')) as { privateKey: string };
    const t0 = Date.now();
    await vaultRoundTrip(started!.url, p256PublicKey(fromBase64Url(privateKey)));
    console.info(`[deno/sqlite] startup ${started!.startupMs} ms, vault round trip ${Date.now() - t0} ms`);
  });
});
