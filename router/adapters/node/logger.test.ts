import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeLogger } from './logger.ts';

describe('nodeLogger', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('creates router.log 0600 at once, and flush() resolves once every line is in it, in order', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'postern-log-'));
    dirs.push(dataDir);
    const logger = nodeLogger({ dataDir });
    const file = join(dataDir, 'logs', 'router.log');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (let n = 0; n < 2000; n++) logger.info({ n }, 'line');
    await logger.flush();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { n: number; msg: string; service: string });
    expect(lines.map((l) => l.n)).toEqual(Array.from({ length: 2000 }, (_, n) => n));
    expect(lines[0]).toMatchObject({ msg: 'line', service: 'postern-router' });
    await logger.flush(); // nothing pending: still resolves
  });
});
