/**
 * The dependency rules of ARCHITECTURE.md, checked on the source: core depends on nothing of
 * ours and on no runtime; the Router core is runtime-agnostic (only its Node adapter may use
 * `node:` modules); nobody but core/crypto imports @noble; parts never import each other.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2] ?? '');
}

const NODE_BUILTINS = /^(node:|fs$|path$|os$|crypto$|net$|http$|https$|child_process$|better-sqlite3$|pino$)/;

describe('architecture', () => {
  it('keeps core free of runtimes and of the other parts', () => {
    for (const file of sources('core')) {
      for (const spec of imports(file)) {
        expect(NODE_BUILTINS.test(spec), `${file} imports ${spec}`).toBe(false);
        expect(/^\.\.\/\.\.\/(router|vault|gateway|relay)\//.test(spec) || /^\.\.\/(router|vault|gateway|relay)\//.test(spec), `${file} imports ${spec}`).toBe(false);
      }
    }
  });

  it('keeps the Router core runtime-agnostic: node: only in the Node and Deno adapters', () => {
    // Deno implements node: builtins itself (its adapter uses node:sqlite); workerd does not.
    const offenders = sources('router')
      .filter((f) => !f.startsWith(join('router', 'adapters', 'node')) && !f.startsWith(join('router', 'adapters', 'deno')))
      .flatMap((f) => imports(f).filter((s) => NODE_BUILTINS.test(s)).map((s) => `${f} → ${s}`));
    expect(offenders).toEqual([]);
  });

  it('lets only core/crypto import @noble', () => {
    const offenders = ['core', 'router', 'vault', 'test']
      .flatMap((d) => sources(d))
      .filter((f) => !f.startsWith(join('core', 'crypto')))
      .flatMap((f) => imports(f).filter((s) => s.startsWith('@noble/')).map((s) => `${relative(ROOT, join(ROOT, f))} → ${s}`));
    expect(offenders).toEqual([]);
  });

  it('keeps the parts from importing each other (the CLI may start the Node Router and the Node relay)', () => {
    const target = (file: string, spec: string) => (spec.startsWith('.') ? relative(ROOT, join(ROOT, dirname(file), spec)) : spec);
    const part = (path: string) => path.split(/[\\/]/)[0];
    const cross: string[] = [];
    for (const from of ['router', 'vault', 'gateway', 'relay']) {
      for (const file of sources(from)) {
        for (const spec of imports(file)) {
          const to = target(file, spec);
          const toPart = part(to);
          if (!['router', 'vault', 'gateway', 'relay'].includes(toPart ?? '') || toPart === from) continue;
          // `postern server start` is the composition root that runs the Router in-process.
          if (from === 'vault' && to.startsWith(join('router', 'adapters', 'node'))) continue;
          // `postern relay start` (and the embedded relay) compose the relay's Node adapters the same way.
          if (from === 'vault' && to.startsWith(join('relay', 'adapters', 'node'))) continue;
          cross.push(`${file} → ${spec}`);
        }
      }
    }
    expect(cross).toEqual([]);
  });
});
