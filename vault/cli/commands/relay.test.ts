/**
 * `postern relay start` on loopback: flags to a running relay, its JSON description, the
 * secret never printed, usage errors for impossible combinations, and a clean stop on SIGTERM.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../output.ts';
import { registerRelayCommands } from './relay.ts';
import { UsageError } from '../../../core/errors.ts';

const SECRET = 'cli-relay-secret-0123456789abcdef';

function harness(env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (c: string | Uint8Array) => (stdout += String(c)) },
    stderr: { write: (c: string) => (stderr += c) },
    stdin: process.stdin,
    env,
  } as unknown as CliIo;
  const program = new Command('postern')
    .option('--json')
    .option('--server <url>')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  registerRelayCommands(program, io);
  return { program, out: () => stdout, err: () => stderr };
}

describe('postern relay start', () => {
  it('starts UDP, TCP and metrics listeners, prints its URLs but never the secret, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-relay-cli-'));
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const before = new Set(process.listeners('SIGTERM'));
    const h = harness();
    try {
      const run = h.program.parseAsync(
        [
          '--json',
          'relay',
          'start',
          '--port',
          '0',
          '--tcp-port',
          '0',
          '--metrics-port',
          '0',
          '--secret-file',
          secretFile,
          '--allow',
          '10.20.0.0/16',
          '--verbose',
        ],
        { from: 'user' },
      );
      for (let i = 0; i < 200 && !h.out().includes('"pid"'); i++) await new Promise((r) => setTimeout(r, 25));
      const info = JSON.parse(h.out()) as { urls: string[]; metrics: string; allow: string[] };
      expect(info.urls).toHaveLength(2);
      expect(info.urls[0]).toMatch(/^turn:127\.0\.0\.1:\d+\?transport=udp$/);
      expect(info.urls[1]).toMatch(/^turn:127\.0\.0\.1:\d+\?transport=tcp$/);
      expect(info.allow).toEqual(['10.20.0.0/16']);
      expect(await (await fetch(info.metrics)).text()).toContain('postern_relay_listeners{transport="tcp"} 1');
      process.emit('SIGTERM', 'SIGTERM');
      await run;
      expect(h.err()).toContain('Relay stopped.');
      expect(h.out() + h.err()).not.toContain(SECRET);
    } finally {
      for (const l of process.listeners('SIGTERM')) if (!before.has(l)) process.off('SIGTERM', l);
      for (const l of process.listeners('SIGINT')) process.off('SIGINT', l as () => void);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start without a secret, with --tls-port but no certificate, and with a bad --allow', async () => {
    await expect(harness().program.parseAsync(['relay', 'start', '--port', '0'], { from: 'user' })).rejects.toThrow(UsageError);
    await expect(
      harness({ POSTERN_RELAY_SECRET: SECRET }).program.parseAsync(['relay', 'start', '--port', '0', '--tls-port', '0'], { from: 'user' }),
    ).rejects.toThrow(/--tls-port needs --cert/);
    await expect(
      harness({ POSTERN_RELAY_SECRET: SECRET }).program.parseAsync(['relay', 'start', '--allow', 'intranet'], { from: 'user' }),
    ).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    await expect(harness({ POSTERN_RELAY_SECRET: 'short' }).program.parseAsync(['relay', 'start', '--port', '0'], { from: 'user' })).rejects.toMatchObject({
      code: 'bad_request',
    });
  });
});
