/**
 * What can be checked about deploy/ without systemd running or a Docker daemon: the facts the
 * files must state, that what they copy or call exists, and that the launcher starts the gateway.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GATEWAY_VERSION } from '../../gateway/version.ts';
import { REPO } from './support.ts';

const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
/** `Key=value` lines of a unit file (comments and sections dropped), in order. */
const unitEntries = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('['))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);

/** The top-level folders of the repository that `entry` reaches through relative imports. */
function foldersReachedFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const folders = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    folders.add(file.split('/')[0]!);
    for (const m of read(file).matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      if (/\.(ts|mts|mjs|js)$/.test(spec)) visit(relative(REPO, join(REPO, dirname(file), spec)));
    }
  };
  visit(entry);
  return folders;
}

describe('deploy/ for the gateway', () => {
  it('the systemd unit runs the binary as a service user, hardened', () => {
    const unit = read('deploy/systemd/postern-gateway.service');
    const entries = new Map<string, string>();
    for (const [k, v] of unitEntries(unit)) entries.set(k, entries.has(k) ? `${entries.get(k)} ${v}` : v);
    expect(entries.get('ExecStart')).toBe('/usr/local/bin/postern-gateway start --service');
    expect(entries.get('User')).toBe('postern-gateway');
    expect(entries.get('ReadWritePaths')?.split(/\s+/).sort()).toEqual(['/etc/postern-gateway', '/var/log/postern-gateway']);
    for (const [k, v] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['KillSignal', 'SIGTERM'],
      ['Restart', 'on-failure'],
      ['CapabilityBoundingSet', ''],
    ]) {
      expect(entries.get(k!), k).toBe(v);
    }
    // V8's JIT needs W+X pages: this switch would kill node at start.
    expect(entries.has('MemoryDenyWriteExecute')).toBe(false);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
  });

  it('the unit file passes systemd-analyze verify where available (apart from the binary not being installed here)', () => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) return;
    const run = spawnSync('systemd-analyze', ['verify', '--man=no', join(REPO, 'deploy/systemd/postern-gateway.service')], { encoding: 'utf8' });
    const complaints = `${run.stdout}${run.stderr}`.split('\n').filter((l) => l.trim() && !l.includes('/usr/local/bin/postern-gateway is not executable'));
    expect(complaints).toEqual([]);
  });

  it('the image is node:24-bookworm-slim, runtime deps only, copies paths that exist, and runs the service', () => {
    const dockerfile = read('deploy/docker/Dockerfile');
    expect(dockerfile).toMatch(/^FROM node:24-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(dockerfile).toMatch(/^USER postern-gateway$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/local/bin/postern-gateway"]');
    const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)![1]!) as string[];
    expect(cmd.slice(0, 3)).toEqual(['start', '--service', '--no-shell']);
    for (const [, sources] of dockerfile.matchAll(/^COPY (.+) \S+$/gm)) {
      for (const source of sources!.split(/\s+/)) expect(existsSync(join(REPO, source)), source).toBe(true);
    }
    expect(dockerfile).not.toMatch(/^(ENV|ARG)\b[^\n]*GATEWAY_CONFIG/m); // never baked into the image
  });

  it('the image copies every folder the gateway imports, and applies the werift patch set after an install without scripts', () => {
    const dockerfile = read('deploy/docker/Dockerfile');
    const copied = new Set([...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap(([, sources]) => sources!.split(/\s+/)));
    const reached = foldersReachedFrom('gateway/cli/bin.ts');
    expect(reached).toContain('node');
    for (const folder of reached) expect(copied, folder).toContain(folder);
    expect(copied).toContain('patches');
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev --ignore-scripts && npx patch-package --error-on-fail\b/m);
    expect(read('deploy/README.md')).toMatch(/npm ci --omit=dev --ignore-scripts && sudo npx patch-package --error-on-fail\b/);
  });

  it('compose requires GATEWAY_CONFIG and nothing else, and restarts unless stopped', () => {
    const compose = read('deploy/docker/docker-compose.yml');
    expect(compose).toMatch(/^\s+restart: unless-stopped$/m);
    expect(compose).toMatch(/^\s+GATEWAY_CONFIG: \$\{GATEWAY_CONFIG:\?[^}]+\}$/m);
    const required = [...compose.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]);
    const referenced = [...compose.matchAll(/\$\{(\w+)/g)].map((m) => m[1]);
    expect(required).toEqual(['GATEWAY_CONFIG']);
    expect(referenced).toEqual(['GATEWAY_CONFIG']);
    expect(compose).toMatch(/dockerfile: deploy\/docker\/Dockerfile/);
    expect(compose).toMatch(/context: \.\.\/\.\./);
  });

  it('the launcher runs the gateway from an install directory', () => {
    const launcher = join(REPO, 'deploy/bin/postern-gateway');
    expect(statSync(launcher).mode & 0o111).not.toBe(0);
    const out = execFileSync(launcher, ['version'], { env: { ...process.env, POSTERN_DIR: REPO }, encoding: 'utf8' });
    expect(out).toBe(`postern-gateway ${GATEWAY_VERSION}\n`);
    const missing = spawnSync(launcher, ['version'], { env: { ...process.env, POSTERN_DIR: '/nonexistent' }, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no Postern install at /nonexistent');
  });
});
