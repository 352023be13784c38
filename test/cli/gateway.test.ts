/**
 * Provisioning a gateway end to end through the CLI, with the real `postern-gateway` binary:
 * `postern gateway create` → `postern-gateway init --token` (its own POSTERN_HOME) →
 * `postern-gateway start --no-shell` → `postern gateway list` shows it online with its version
 * and address → `postern gateway info` → `postern gateway remove` → listed as removed.
 * Also `gateway create --config-init`, and the refusals around names.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeConfig } from '../../core/secrets-client/index.ts';
import type { VaultClient } from '../../core/vault-client/index.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, removeDir, runGateway, spawnGateway, tempDir } from './support.ts';

const UID = /^[A-Za-z0-9_-]{22}$/;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('postern gateway: provisioning end to end with postern-gateway', () => {
  let router: TestRouter;
  let admin: CliUser;
  let sdk: VaultClient;
  let gwHome: string;
  /** What `gateway create --json` printed for the gateway provisioned end to end. */
  let gw: { gatewayUid: string; token: string; initCommand: string };
  let child: ChildProcess | null = null;
  let exited: Promise<number | null> = Promise.resolve(null);
  let gatewayStderr = '';

  beforeAll(async () => {
    router = await startTestRouter();
    admin = new CliUser(router.url, 'admin@example.com');
    gwHome = tempDir('postern-cli-gateway-');
    await admin.registerWithSdk();
    sdk = await admin.loginWithSdk();
    await sdk.createApplication('Gateways');
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    admin?.cleanup();
    if (gwHome) removeDir(gwHome);
    await router?.stop();
  });

  it('gateway create prints a one-time token and the init line, or with --config-init a ready configuration', async () => {
    const [created, human, configInit] = await Promise.all([
      admin.ok(['--json', 'gateway', 'create', '--app', 'Gateways', '--name', 'gw-e2e']),
      admin.ok(['gateway', 'create', '--app', 'Gateways', '--name', 'gw-later', '--first-access-expires-in-min', '30']),
      admin.ok(['gateway', 'create', '--app', 'Gateways', '--name', 'gw-container', '--config-init', 'b64']),
    ]);
    gw = created.json();
    expect(gw).toMatchObject({
      gatewayUid: expect.stringMatching(UID),
      name: 'gw-e2e',
      ipLock: true,
      token: expect.stringMatching(/^127\.0\.0\.1:\d+:[\w-]{43}$/),
    });
    expect(gw.initCommand).toBe(`postern-gateway init --token ${gw.token}`);
    expect(human.stdout).toMatch(/^One-time token\s+127\.0\.0\.1:\d+:[\w-]{43}$/m);
    expect(human.stdout).toMatch(/^Redeem before\s+in (29|30) minutes \(\d{4}-/m);
    expect(human.stdout).toMatch(/^IP lock\s+to the address that redeems the token$/m);
    expect(human.stdout).toMatch(/On the gateway host, run:\n {2}postern-gateway init --token 127\.0\.0\.1:\d+:[\w-]{43}\n {2}postern-gateway start\n$/);
    expect(human.stderr).toMatch(/The token works once/);
    // --config-init redeems the token here: the configuration is ready, and the warnings say why it matters.
    const containerConfig = decodeConfig(configInit.stdout.trim());
    expect(containerConfig.server).toBe(router.url);
    expect(configInit.stderr).toMatch(/as sensitive as a password/);
    expect(configInit.stderr).toMatch(/IP lock binds the gateway to the first address that uses this configuration/);
  });

  it('postern-gateway init and start on the "gateway host"; gateway list shows it online with version and address; info asks it', async () => {
    // Its own POSTERN_HOME: nothing shared with the administrator's.
    const init = await runGateway(['init', '--token', gw.token], { home: gwHome });
    expect(init.code, init.stderr).toBe(0);
    const configPath = join(gwHome, 'gateway-config.json');
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    expect(decodeConfig(readFileSync(configPath, 'utf8')).deviceUid).toBe(gw.gatewayUid);

    const started = Date.now();
    const gateway = spawnGateway(['start', '--no-shell'], { home: gwHome });
    child = gateway;
    gateway.stderr!.setEncoding('utf8').on('data', (d: string) => (gatewayStderr += d));
    gateway.stdout!.resume();
    exited = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
    await expect
      .poll(async () => (await sdk.listGateways()).find((g) => g.gatewayUid === gw.gatewayUid)?.online, { timeout: 30_000, interval: 100 })
      .toBe(true);
    const connectedAfterMs = Date.now() - started;

    const [list, listJson, info, infoText, duplicate] = await Promise.all([
      admin.ok(['gateway', 'list']),
      admin.ok(['--json', 'gateway', 'list', '--app', 'Gateways']),
      admin.ok(['--json', 'gateway', 'info', 'gw-e2e']),
      admin.ok(['gateway', 'info', 'gw-e2e']),
      admin.run(['--json', 'gateway', 'create', '--app', 'Gateways', '--name', 'gw-e2e']),
    ]);
    expect(list.stdout).toMatch(/^NAME\s+GATEWAY UID\s+STATUS\s+VERSION\s+ADDRESS\s+CONNECTED SINCE\s+WORKER$/m);
    expect(list.stdout).toMatch(
      new RegExp(
        `^gw-e2e\\s+${gw.gatewayUid}\\s+online\\s+${VERSION.replace(/\./g, '\\.')}\\s+127\\.0\\.0\\.1\\s+(just now|\\d+ \\w+ ago) \\(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\s+\\S+$`,
        'm',
      ),
    );
    expect(list.stdout).toMatch(/^gw-later\s+[\w-]{22}\s+offline \(not initialised\)$/m);
    expect(list.stdout).toMatch(/^gw-container\s+[\w-]{22}\s+offline$/m);
    expect(listJson.json().gateways).toContainEqual(
      expect.objectContaining({
        gatewayUid: gw.gatewayUid,
        name: 'gw-e2e',
        status: 'online',
        online: true,
        version: VERSION,
        address: '127.0.0.1',
        revokedAt: null,
      }),
    );
    expect(info.json()).toMatchObject({ gatewayUid: gw.gatewayUid, name: 'gw-e2e', data: { version: VERSION, gatewayUid: gw.gatewayUid, pid: gateway.pid } });
    // For a person, the gateway's times read as times, not epoch milliseconds.
    expect(infoText.stdout).toMatch(/^startedAt\s+(just now|\d+ \w+ ago) \(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/m);
    expect(infoText.stdout).toMatch(/^connectedSince\s+(just now|\d+ \w+ ago) \(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/m);
    expect(infoText.stdout).not.toMatch(/\b\d{13}\b/);
    expect(duplicate.code).toBe(1);
    expect(duplicate.error()).toMatchObject({ code: 'conflict', message: expect.stringMatching(/A gateway named "gw-e2e" already exists/) });
    console.log(`[cli gateway e2e] start → online ${connectedAfterMs} ms`);
  });

  it('gateway remove disconnects it; it is then listed as removed and no longer answers', async () => {
    const removed = await admin.ok(['gateway', 'remove', 'gw-e2e']);
    expect(removed.stdout).toBe(`Removed gateway gw-e2e (${gw.gatewayUid}); it has been disconnected and its configuration no longer works.\n`);
    const [after, infoAfter] = await Promise.all([admin.ok(['gateway', 'list']), admin.run(['--json', 'gateway', 'info', gw.gatewayUid])]);
    expect(after.stdout).toMatch(new RegExp(`^gw-e2e\\s+${gw.gatewayUid}\\s+removed$`, 'm'));
    expect(infoAfter.code).toBe(1);
    expect(infoAfter.error()).toMatchObject({ code: 'bad_state', message: 'Gateway gw-e2e has been removed.' });
    expect((await sdk.listGateways()).find((g) => g.gatewayUid === gw.gatewayUid)).toMatchObject({ online: false, revokedAt: expect.any(Number) });
    // The Router dropped its connection and refuses it when it tries again.
    await expect.poll(() => router.router.hub.isConnectedHere(gw.gatewayUid), { timeout: 10_000 }).toBe(false);
    expect(gatewayStderr).toContain(`gateway ${gw.gatewayUid}`);
    expect(existsSync(join(gwHome, 'gateway-config.json'))).toBe(true);
  });
});
