/**
 * The shell appears when `postern-gateway start` runs on a terminal, and not as a service.
 * A pseudo-terminal comes from util-linux `script`; the test is skipped where it is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateP256KeyPair, randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { newUid } from '../../core/ids.ts';
import { encodeConfig, type SecretsConfig } from '../../core/secrets-client/index.ts';
import { REPO, removeDir, tempHome } from './support.ts';

const hasScript = spawnSync('script', ['--version']).status === 0;

function onTerminal(args: string[], home: string, steps: { waitFor: string | RegExp; send?: string }[]): Promise<{ code: number | null; text: string }> {
  const loader = join(REPO, 'node_modules/tsx/dist/loader.mjs');
  const command = `exec node --import file://${loader} ${join(REPO, 'gateway/cli/bin.ts')} ${args.join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: REPO,
    env: { ...process.env, POSTERN_HOME: home, TERM: 'dumb' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let text = '';
  let step = 0;
  const advance = () => {
    while (step < steps.length) {
      const { waitFor, send } = steps[step]!;
      const seen = typeof waitFor === 'string' ? text.includes(waitFor) : waitFor.test(text);
      if (!seen) return;
      step++;
      if (send !== undefined) child.stdin.write(send);
    }
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    text += d;
    advance();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, text });
    });
  });
}

describe.skipIf(!hasScript)('gateway shell on a terminal', () => {
  const home = tempHome();
  afterAll(() => removeDir(home));
  const config: SecretsConfig = {
    version: 1,
    server: 'http://127.0.0.1:9',
    routerPublicKey: toBase64Url(generateP256KeyPair().publicKey),
    clientId: toBase64Url(randomBytes(64)),
    privateKey: toBase64Url(generateP256KeyPair().privateKey),
    appKey: toBase64Url(randomBytes(32)),
    appUid: newUid(),
    deviceUid: newUid(),
  };
  writeFileSync(join(home, 'gateway-config.json'), encodeConfig(config, 'json'), { mode: 0o600 });

  it('offers status, tasks, version, log-level and quit, and never shows a key', async () => {
    const { code, text } = await onTerminal(['start'], home, [
      { waitFor: 'postern-gateway> ', send: 'status\n' },
      { waitFor: /reconnect attempts/, send: 'version\n' },
      { waitFor: /postern-gateway \d+\.\d+\.\d+\S*\r?\n/, send: 'tasks\n' },
      { waitFor: 'No jobs are running.', send: 'log-level warn\n' },
      { waitFor: 'log level: warn', send: 'quit\n' },
    ]);
    expect(code, text).toBe(0);
    expect(text).toContain(`gateway             ${config.deviceUid}`);
    expect(text).toContain('Stopping the gateway');
    for (const secret of [config.privateKey, config.appKey, config.clientId]) expect(text).not.toContain(secret);
  });

  it('offers no shell as a service, and stops on Ctrl-C', async () => {
    const { code, text } = await onTerminal(
      ['start', '--service', '--config', join(home, 'gateway-config.json'), '--log-dir', join(home, 'service-logs')],
      home,
      [
        { waitFor: /postern-gateway \d/, send: '' },
        { waitFor: /reconnecting to the Router/, send: '\u0003' },
      ],
    );
    expect(code, text).toBe(0);
    expect(text).not.toContain('postern-gateway> ');
  });
});
