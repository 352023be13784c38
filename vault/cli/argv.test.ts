import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './program.ts';
import type { CliIo } from './output.ts';

function fakeIo(home: string): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (c: string | Uint8Array) => (out += String(c)) },
    stderr: { write: (c: string) => (err += c) },
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    env: { POSTERN_HOME: home },
    out: () => out,
    err: () => err,
  };
}

describe('UIDs that start with a dash', () => {
  const home = mkdtempSync(join(tmpdir(), 'postern-argv-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('are taken as arguments and option values, not as unknown options', async () => {
    for (const args of [
      ['get', '-xLRmI3BkkdCum-gqeoEyw', '--field', 'password'],
      ['record', 'link', '-xLRmI3BkkdCum-gqeoEyw', '--LRmI3BkkdCum-gqeoEyw'],
      ['events', '--record', '-xLRmI3BkkdCum-gqeoEyw'],
      ['folder', 'share', '-xLRmI3BkkdCum-gqeoEyw', '--user', 'bob@example.com'],
    ]) {
      const io = fakeIo(home);
      const code = await main(['node', 'postern', '--server', 'http://127.0.0.1:9', ...args], io);
      // Parsing succeeded: the command got as far as needing a session.
      expect(io.err()).toMatch(/not logged in .*\(unauthorized\)/);
      expect(code).toBe(1);
    }
  });

  it('still lets real flags of the same shape through', async () => {
    const io = fakeIo(home);
    const code = await main(['node', 'postern', 'app', 'client', 'add', '--app', 'x', '--access-expire-in-min', '0'], io);
    expect(code).toBe(2);
    expect(io.err()).toMatch(/--access-expire-in-min.*from 1 to/);
  });
});
