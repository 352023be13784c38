/**
 * The dependency rules of ARCHITECTURE.md, checked on the source:
 *
 * - core/ runs in Node, Deno, workerd and the browser: it imports no runtime module and nothing
 *   of ours outside core/. It may probe for a capability at run time (core/crypto uses node:crypto
 *   where the runtime has it), never import one by name.
 * - node/ is the code that needs Node's built-ins and is shared by the CLI, the gateway, the
 *   relay and the benches (WebRTC through werift, sockets, private files): it imports core/ and
 *   Node, never a part.
 * - The Router core is runtime-agnostic: only its Node and Deno adapters use `node:` or node/.
 * - Nobody but core/crypto imports @noble; parts never import each other.
 * - Test helpers live in `testing/` folders and only tests (and other helpers) import them, so
 *   no runtime bundle carries them.
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

/** The repository path an import specifier of `file` names. */
function resolveSpec(file: string, spec: string): string {
  return relative(ROOT, join(ROOT, dirname(file), spec));
}

/** The top-level folder of a repository path. */
function part(path: string): string | undefined {
  return path.split(/[\\/]/)[0];
}

const NODE_BUILTINS = /^(node:|fs$|path$|os$|crypto$|net$|http$|https$|child_process$|better-sqlite3$|pino$)/;

describe('architecture', () => {
  it('keeps core free of runtimes and of the other parts', () => {
    for (const file of sources('core')) {
      for (const spec of imports(file)) {
        expect(NODE_BUILTINS.test(spec), `${file} imports ${spec}`).toBe(false);
        expect(/^(\.\.\/)+(router|vault|gateway|relay|node)\//.test(spec), `${file} imports ${spec}`).toBe(false);
      }
    }
  });

  it('keeps node/ on core and Node: no part imported', () => {
    const offenders = sources('node').flatMap((f) =>
      imports(f)
        .filter((s) => s.startsWith('.') && !['core', 'node'].includes(part(resolveSpec(f, s)) ?? ''))
        .map((s) => `${f} → ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('keeps the Router core runtime-agnostic: node: and node/ only in the Node and Deno adapters', () => {
    // Deno implements node: builtins itself (its adapter uses node:sqlite); workerd does not.
    const offenders = sources('router')
      .filter((f) => !f.startsWith(join('router', 'adapters', 'node')) && !f.startsWith(join('router', 'adapters', 'deno')))
      .flatMap((f) =>
        imports(f)
          .filter((s) => NODE_BUILTINS.test(s) || (s.startsWith('.') && part(resolveSpec(f, s)) === 'node'))
          .map((s) => `${f} → ${s}`),
      );
    expect(offenders).toEqual([]);
  });

  it('keeps test helpers (testing/ folders) out of the code that ships', () => {
    const offenders = ['core', 'node', 'router', 'vault', 'gateway', 'relay']
      .flatMap((d) => sources(d))
      .filter((f) => !f.split(/[\\/]/).includes('testing'))
      .flatMap((f) =>
        imports(f)
          .filter((s) => s.startsWith('.') && resolveSpec(f, s).split(/[\\/]/).includes('testing'))
          .map((s) => `${f} → ${s}`),
      );
    expect(offenders).toEqual([]);
  });

  it('lets only core/crypto import @noble', () => {
    const offenders = ['core', 'node', 'router', 'vault', 'gateway', 'relay', 'test']
      .flatMap((d) => sources(d))
      .filter((f) => !f.startsWith(join('core', 'crypto')))
      .flatMap((f) =>
        imports(f)
          .filter((s) => s.startsWith('@noble/'))
          .map((s) => `${relative(ROOT, join(ROOT, f))} → ${s}`),
      );
    expect(offenders).toEqual([]);
  });

  it('gives every top-level folder its line in the README map of the code', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const map = readme.slice(readme.indexOf('## Map of the code'));
    const rows = new Set([...map.matchAll(/^\| `([^`/]+)\/` \|/gm)].map((m) => m[1]));
    const folders = readdirSync(ROOT).filter((name) => !name.startsWith('.') && name !== 'node_modules' && statSync(join(ROOT, name)).isDirectory());
    expect(folders.filter((f) => !rows.has(f))).toEqual([]);
  });

  it('keeps the parts from importing each other (the CLI may start the Node Router and the Node relay)', () => {
    const target = (file: string, spec: string) => (spec.startsWith('.') ? resolveSpec(file, spec) : spec);
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
