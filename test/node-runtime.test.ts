/**
 * The suite runs on the Node scripts/test.sh chose (docs/decisions/0001-node-runtime.md), and so does
 * every child a test starts, whether by process.execPath or by the name `node` on PATH.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const chosen = process.env['POSTERN_TEST_NODE'] ?? null;

describe('Node runtime', () => {
  it(`runs on a supported Node (22 or newer): this is ${process.version}`, () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
  });

  it.skipIf(!chosen)(`runs on the Node scripts/test.sh chose (${chosen ?? 'not run through it'}), children too`, () => {
    expect(process.version).toBe(chosen);
    expect(execFileSync(process.execPath, ['--version'], { encoding: 'utf8' }).trim()).toBe(chosen);
    expect(execFileSync('node', ['--version'], { encoding: 'utf8' }).trim()).toBe(chosen);
  });
});
