/**
 * The Router under workerd: `wrangler dev` (local mode: workerd + a local D1 in a temp dir) on
 * /wrangler.toml, driven over real HTTP by the vault SDK in this Node process. Offline: no
 * metrics, no Request.cf download, no login, no remote bindings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateP256KeyPair, toBase64Url } from '../../core/crypto/index.ts';
import { freePort, startRuntimeProcess, vaultRoundTrip, waitForHealthz, type RuntimeProcess } from './support.ts';

const repo = resolve(import.meta.dirname, '../..');
const wrangler = join(repo, 'node_modules/.bin/wrangler');

describe('Router under workerd (wrangler dev, D1)', () => {
  const key = generateP256KeyPair();
  let stateDir: string;
  let proc: RuntimeProcess | undefined;
  let url: string;
  let startupMs = 0;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'postern-workerd-'));
    const [port, inspectorPort] = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    proc = startRuntimeProcess(
      wrangler,
      [
        'dev',
        '--config',
        'wrangler.toml',
        '--local',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--inspector-port',
        String(inspectorPort),
        '--persist-to',
        join(stateDir, 'state'),
        '--var',
        `POSTERN_ROUTER_KEY:${toBase64Url(key.privateKey)}`,
        '--show-interactive-dev-session=false',
      ],
      {
        cwd: repo,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: stateDir,
          XDG_CONFIG_HOME: join(stateDir, 'config'),
          WRANGLER_LOG_PATH: join(stateDir, 'logs'),
          WRANGLER_SEND_METRICS: 'false',
          WRANGLER_SEND_ERROR_REPORTS: 'false',
          WRANGLER_HIDE_BANNER: 'true',
          CLOUDFLARE_CF_FETCH_ENABLED: 'false',
          CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: 'false',
          NO_COLOR: '1',
          CI: '1',
        },
      },
    );
    try {
      await waitForHealthz(url, proc, 50_000);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    startupMs = Date.now() - t0;
  });

  afterAll(async () => {
    await proc?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('answers /healthz and a vault round trip with the key from the POSTERN_ROUTER_KEY var', async () => {
    const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    const t0 = Date.now();
    await vaultRoundTrip(url, key.publicKey);
    console.info(`[workerd/d1] startup ${startupMs} ms, vault round trip ${Date.now() - t0} ms`);
  });
});
