/**
 * What Biome (biome.json, run by `npm test`) cannot check: its formatter wraps code at 160
 * columns but leaves comments as written. A comment line over 160 is a finding; a long string
 * literal is not, so that an error message can still be found by grepping for it
 * (docs/decisions/0014-code-style.md).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const FOLDERS = ['core', 'node', 'router', 'vault', 'gateway', 'relay', 'test', 'scripts', 'wasm'];
const MAX_COLUMNS = 160;

function sources(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

describe('style', () => {
  it(`keeps comment lines within ${MAX_COLUMNS} columns`, () => {
    const long: string[] = [];
    for (const file of FOLDERS.flatMap((f) => sources(join(ROOT, f)))) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (line.length > MAX_COLUMNS && /^\s*(\/\/|\/\*|\*)/.test(line)) long.push(`${relative(ROOT, file)}:${i + 1}`);
        });
    }
    expect(long).toEqual([]);
  });
});
