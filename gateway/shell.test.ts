import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateP256KeyPair, randomBytes, toBase64Url } from '../core/crypto/index.ts';
import { newUid } from '../core/ids.ts';
import type { SecretsConfig } from '../core/secrets-client/index.ts';
import { SecretScrubber } from './logging/scrubber.ts';
import { GatewayService } from './service.ts';
import { GatewayShell, runShellCommand, SHELL_COMMANDS, type ShellHost } from './shell.ts';
import { silentLogger } from '../core/logger.ts';

const config: SecretsConfig = {
  version: 1,
  server: 'http://127.0.0.1:9', // nothing listens: the link keeps retrying
  routerPublicKey: toBase64Url(generateP256KeyPair().publicKey),
  clientId: toBase64Url(randomBytes(64)),
  privateKey: toBase64Url(generateP256KeyPair().privateKey),
  appKey: toBase64Url(randomBytes(32)),
  appUid: newUid(),
  deviceUid: newUid(),
};
const SECRETS = [config.privateKey, config.appKey, config.clientId];
const quiet = silentLogger;

function host(service: GatewayService, quit = async () => {}): ShellHost & { level: string } {
  const h = {
    level: 'info',
    status: () => service.status(),
    runningTasks: () => service.runningTasks(),
    recentTasks: () => service.recentTasks(),
    version: '1.2.3',
    logLevel: () => h.level as 'info',
    setLogLevel: (l: string) => void (h.level = l),
    quit,
  };
  return h;
}

describe('gateway shell', () => {
  it('has a fixed command list', () => {
    expect([...SHELL_COMMANDS]).toEqual(['status', 'tasks', 'version', 'log-level', 'help', 'quit', 'exit']);
  });

  it('never shows the configuration’s keys, whatever is typed', async () => {
    const service = new GatewayService({
      config,
      version: '1.2.3',
      logger: quiet,
      scrubber: new SecretScrubber(),
      link: { backoff: { baseMs: 10, capMs: 20 } },
    });
    service.start();
    try {
      // The link flips between waiting and connecting every 10-20 ms; once it is seen waiting after a
      // failed try, the commands below run synchronously, before any timer can move it on.
      await expect.poll(() => service.status().reconnectAttempts > 0 && service.status().state === 'waiting').toBe(true);
      const task = service.tasks.start(newUid(), 'rotate', newUid());
      task.step('fetching records', 10);
      const h = host(service);
      const lines = [
        ...SHELL_COMMANDS.filter((c) => c !== 'quit' && c !== 'exit'),
        'tasks all',
        'log-level debug',
        'log-level verbose',
        'config',
        'cat /etc/postern-gateway/gateway-config.json',
        'secrets',
        'privateKey',
        'status --all',
        '\u001b[31mred',
      ];
      const outputs = lines.map((l) => runShellCommand(l, h).output);
      const all = outputs.join('\n');
      for (const s of SECRETS) expect(all).not.toContain(s);
      expect(outputs[0]).toMatch(/state\s+waiting/);
      expect(outputs[0]).toContain(config.deviceUid);
      expect(outputs[0]).toContain('http://127.0.0.1:9');
      expect(outputs[0]).toMatch(/last error\s+.*\(unreachable\)/);
      expect(outputs[1]).toContain('fetching records');
      expect(outputs[2]).toBe('postern-gateway 1.2.3');
      expect(h.level).toBe('debug');
      expect(outputs[lines.indexOf('log-level verbose')]).toMatch(/^usage: log-level/);
      expect(outputs[lines.indexOf('config')]).toMatch(/^Unknown command "config"/);
      expect(outputs.at(-1)).toContain('\\u001b');
      expect(outputs.at(-1)).not.toContain('\u001b');
    } finally {
      await service.stop();
    }
  });

  it('reaches the gateway only through ShellHost (no config, keys or secrets client in its source)', () => {
    const source = readFileSync(new URL('./shell.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports.sort()).toEqual(['./logging/logger.ts', './service.ts', './jobs.ts', 'node:readline'].sort());
    expect(source).toMatch(/import type \{ GatewayStatus \} from '.\/service.ts'/);
    expect(source).toMatch(/import type \{ JobView \} from '.\/jobs.ts'/);
    for (const word of ['privateKey', 'appKey', 'clientId', 'SecretsClient', 'getSecret', 'config.json', 'readFile']) expect(source).not.toContain(word);
  });

  it('runs as a line loop: prompt, commands, quit', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d) => (text += d.toString()));
    let quits = 0;
    const service = new GatewayService({ config, version: '1.2.3', logger: quiet, scrubber: new SecretScrubber() });
    const shell = new GatewayShell(
      host(service, async () => void quits++),
      { input, output, terminal: false },
    );
    shell.start();
    input.write('version\n');
    input.write('nonsense\n');
    input.write('quit\n');
    await expect.poll(() => quits).toBe(1);
    input.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(quits).toBe(1);
    expect(text).toContain('postern-gateway> ');
    expect(text).toContain('postern-gateway 1.2.3');
    expect(text).toContain('Unknown command "nonsense"');
    expect(text).toContain('Stopping the gateway');
  });
});
