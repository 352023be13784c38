import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '../core/crypto/index.ts';
import { newUid } from '../core/ids.ts';
import { encodeConfig, type SecretsConfig } from '../core/secrets-client/index.ts';
import { writePrivateFile } from '../node/private-file.ts';
import { configSource, configTarget, loadGatewayConfig, logDirectory, prepareConfigTarget } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'postern-gw-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config: SecretsConfig = {
  version: 1,
  server: 'http://127.0.0.1:8080',
  routerPublicKey: toBase64Url(randomBytes(65)),
  clientId: toBase64Url(randomBytes(64)),
  privateKey: toBase64Url(randomBytes(32)),
  appKey: toBase64Url(randomBytes(32)),
  appUid: newUid(),
  deviceUid: newUid(),
};

describe('gateway configuration', () => {
  it('is found at --config, then GATEWAY_CONFIG, then the service or per-user file', () => {
    const env = { POSTERN_HOME: join(dir, 'home') };
    expect(configSource({ config: 'x.json' }, { ...env, GATEWAY_CONFIG: 'abc' })).toEqual({ kind: 'file', path: join(process.cwd(), 'x.json') });
    expect(configSource({}, { ...env, GATEWAY_CONFIG: 'abc' })).toEqual({ kind: 'env', name: 'GATEWAY_CONFIG' });
    expect(configSource({ service: true }, { ...env, GATEWAY_CONFIG: '  ' })).toEqual({ kind: 'file', path: '/etc/postern-gateway/gateway-config.json' });
    expect(configSource({}, env)).toEqual({ kind: 'file', path: join(dir, 'home', 'gateway-config.json') });
    expect(configTarget({}, {})).toBe(join(homedir(), '.postern', 'gateway-config.json'));
    expect(logDirectory({ service: true }, env)).toBe('/var/log/postern-gateway');
    expect(logDirectory({}, env)).toBe(join(dir, 'home', 'logs'));
    expect(logDirectory({ logDir: '/tmp/x' }, env)).toBe('/tmp/x');
  });

  it('reads GATEWAY_CONFIG as base64 or JSON, with a clear error otherwise', () => {
    expect(loadGatewayConfig({ kind: 'env', name: 'GATEWAY_CONFIG' }, { GATEWAY_CONFIG: encodeConfig(config, 'b64') })).toEqual(config);
    expect(loadGatewayConfig({ kind: 'env', name: 'GATEWAY_CONFIG' }, { GATEWAY_CONFIG: encodeConfig(config, 'json') })).toEqual(config);
    expect(() => loadGatewayConfig({ kind: 'env', name: 'GATEWAY_CONFIG' }, { GATEWAY_CONFIG: 'not-a-config' })).toThrow(/^GATEWAY_CONFIG: .*base64 -w0/);
  });

  it('writes 0600, refuses to overwrite without force, and refuses a file others can read', () => {
    const path = join(dir, 'sub', 'gateway-config.json');
    prepareConfigTarget(path, { force: false, privateDir: true });
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    writePrivateFile(path, encodeConfig(config, 'json'), { overwrite: false });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(() => prepareConfigTarget(path, { force: false, privateDir: true })).toThrow(/already exists; pass --force/);
    expect(() => writePrivateFile(path, 'x', { overwrite: false })).toThrow(/already exists/);
    prepareConfigTarget(path, { force: true, privateDir: true });
    expect(loadGatewayConfig({ kind: 'file', path }, {})).toEqual(config);
    chmodSync(path, 0o644);
    expect(() => loadGatewayConfig({ kind: 'file', path }, {})).toThrow(/accessible by other users \(mode 644\).*chmod 600/);
    writePrivateFile(path, encodeConfig(config, 'b64'), { overwrite: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadGatewayConfig({ kind: 'file', path }, {})).toEqual(config);
    expect(() => loadGatewayConfig({ kind: 'file', path: join(dir, 'missing.json') }, {})).toThrow(
      /No gateway configuration at .*postern-gateway init --token/,
    );
  });

  it('checks that the target directory is writable before a token is spent', () => {
    if (process.getuid?.() === 0) return; // root writes anywhere
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o500 });
    expect(() => prepareConfigTarget(join(locked, 'c.json'), { force: false, privateDir: false })).toThrow(/Cannot write to/);
    expect(existsSync(join(locked, 'c.json'))).toBe(false);
  });

  it('tightens a per-user home directory that others could read', () => {
    const home = join(dir, 'loose');
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755);
    prepareConfigTarget(join(home, 'gateway-config.json'), { force: false, privateDir: true });
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });
});
