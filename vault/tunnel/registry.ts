/**
 * Running tunnels on this machine, so `postern tunnel list` and `postern tunnel stop` work from
 * another terminal: each `postern tunnel start` writes `~/.postern/tunnels/<pid>.json` (mode
 * 0600: record UIDs and ports, no secret) and removes it when it ends. Entries whose process is
 * gone (a crash, kill -9) are pruned on read.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TunnelRegistryEntry {
  pid: number;
  resourceUid: string;
  title: string;
  listen: string;
  target: string;
  server: string;
  startedAt: number;
}

const dirOf = (home: string) => join(home, 'tunnels');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function registerTunnel(home: string, entry: TunnelRegistryEntry): () => void {
  const dir = dirOf(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${entry.pid}.json`);
  writeFileSync(path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  return () => rmSync(path, { force: true });
}

export function listTunnels(home: string): TunnelRegistryEntry[] {
  let names: string[];
  try {
    names = readdirSync(dirOf(home));
  } catch {
    return [];
  }
  const out: TunnelRegistryEntry[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    const path = join(dirOf(home), name);
    try {
      const entry = JSON.parse(readFileSync(path, 'utf8')) as TunnelRegistryEntry;
      if (typeof entry.pid === 'number' && alive(entry.pid)) out.push(entry);
      else rmSync(path, { force: true });
    } catch {
      rmSync(path, { force: true });
    }
  }
  return out.sort((a, b) => a.startedAt - b.startedAt);
}
