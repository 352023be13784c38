/**
 * The gateway's version: the repository's package.json version, read once at startup. The
 * Router shows it per gateway (`gateway_sessions.version`) and `gateway-info` reports it.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0-unknown';
  } catch {
    return '0.0.0-unknown';
  }
}

export const GATEWAY_VERSION = readVersion();
