/**
 * Zero knowledge, checked the blunt way: plant canary secrets through the CLI (a password, a
 * private key, a file attachment, the master password itself), use them through the vault
 * and through a device, then search everything the Router keeps (the raw SQLite files, a
 * PostgreSQL dump, its logs, the audit events) for the canaries in plain and encoded forms.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64, toBase64Url, toHex, utf8 } from '../core/crypto/index.ts';
import { CliUser, tempDir } from './cli/support.ts';
import { startTestRouter, storageBackends, type TestRouter } from './support/router.ts';

/** The canary as bytes would appear raw, hex-encoded, or inside base64/base64url at any alignment. */
function encodedForms(canary: string): string[] {
  const forms = [canary, toHex(utf8(canary))];
  for (let offset = 0; offset < 3; offset++) {
    for (const encode of [toBase64, toBase64Url]) {
      const encoded = encode(utf8('\0'.repeat(offset) + canary));
      // Drop the characters that mix in the padding bytes at either end.
      forms.push(encoded.slice(Math.ceil((offset * 4) / 3) + 1, encoded.length - 4));
    }
  }
  return forms;
}

function findCanaries(haystack: Buffer | string, canaries: Record<string, string>): string[] {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  const found: string[] = [];
  for (const [name, canary] of Object.entries(canaries)) {
    for (const form of encodedForms(canary)) if (text.includes(form)) found.push(`${name} as ${JSON.stringify(form.slice(0, 24))}…`);
  }
  return found;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe.each(storageBackends())('zero knowledge: no canary reaches the Router (%s)', (backend) => {
  const tag = toHex(randomBytes(6));
  const canaries = {
    password: `CanaryPassword-${tag}-Zq9`,
    rotated: `CanaryRotated-${tag}-Xw4`,
    privateKey: `CanaryKeyMaterial${tag}AAAAB3NzaC1yc2E`,
    file: `CanaryFileContents-${tag}-\u00e9t\u00e9`,
    master: `CanaryMaster-${tag}-long passphrase`,
  };
  let router: TestRouter;
  let admin: CliUser;
  let deviceHome: string;
  let userRecord = '';
  let eventsJson = '';

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    admin = new CliUser(router.url, `admin-${tag}@example.com`, canaries.master);
    await admin.register();
    await admin.login();
    await admin.ok(['folder', 'add', 'Vault', '--shared']);
    const privateKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${canaries.privateKey}\n-----END OPENSSH PRIVATE KEY-----\n`;
    const keyFile = join(admin.home, 'id_test');
    writeFileSync(keyFile, privateKey);
    const added = await admin.ok([
      '--json',
      'record',
      'add',
      '--type',
      'pamUser',
      '--title',
      'root',
      '--folder',
      'Vault',
      '--field',
      'login=root',
      '--field',
      `password=${canaries.password}`,
      '--field',
      `privateKey=${privateKey}`,
    ]);
    userRecord = (added.json() as { uid: string }).uid;
    const attachment = join(admin.home, 'notes.txt');
    writeFileSync(attachment, canaries.file);
    await admin.ok(['record', 'attach', userRecord, attachment]);
    await admin.ok(['get', userRecord, '--unmask']);

    await admin.ok(['app', 'create', 'Robots']);
    await admin.ok(['app', 'share', 'Vault', '--app', 'Robots', '--can-edit']);
    const config = (await admin.ok(['app', 'client', 'add', '--app', 'Robots', '--unlock-ip', '--config-init', 'b64'])).stdout.trim();
    deviceHome = tempDir('postern-zk-device-');
    const device = { home: deviceHome, env: { POSTERN_SECRETS_CONFIG: config } };
    const seen = await admin.run(['secrets', 'get', userRecord, '--field', 'password'], device);
    expect(seen.stdout.trim()).toBe(canaries.password);
    const updated = await admin.run(['secrets', 'update', userRecord, '--field', `password=${canaries.rotated}`], device);
    expect(updated.code, updated.stderr).toBe(0);
    expect((await admin.ok(['get', userRecord, '--field', 'password'])).stdout.trim()).toBe(canaries.rotated);
    eventsJson = (await admin.ok(['--json', 'events', '--limit', '500'])).stdout;
  });
  afterAll(async () => {
    await router?.stop();
    admin?.cleanup();
  });

  it('can see a canary when one is there (the search itself works)', () => {
    const leaked = JSON.stringify({ fields: { password: canaries.password } });
    for (const form of [leaked, toBase64(utf8(leaked)), toBase64Url(utf8(`xy${leaked}`)), toHex(utf8(leaked))]) {
      expect(findCanaries(form, canaries)).not.toEqual([]);
    }
  });

  it('stores only ciphertext in the database', () => {
    if (backend === 'sqlite') {
      const files = filesUnder(router.dataDir).filter((f) => /postern\.db/.test(f));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect(findCanaries(readFileSync(file), canaries), file).toEqual([]);
    } else {
      const dump = execFileSync('pg_dump', ['--no-owner', router.database], { maxBuffer: 256 * 1024 * 1024 });
      expect(dump.toString()).toContain('CREATE TABLE public.records');
      expect(findCanaries(dump, canaries), 'pg_dump').toEqual([]);
    }
  });

  it('keeps canaries out of the Router’s logs and key file', () => {
    const files = filesUnder(router.dataDir).filter((f) => !/postern\.db/.test(f));
    expect(files.some((f) => f.endsWith('router.log'))).toBe(true);
    expect(readFileSync(join(router.dataDir, 'logs', 'router.log'), 'utf8')).toContain('vault command');
    for (const file of files) expect(findCanaries(readFileSync(file), canaries), file).toEqual([]);
  });

  it('keeps canaries out of the audit events, which still tell the story', () => {
    expect(findCanaries(eventsJson, canaries)).toEqual([]);
    const parsed = JSON.parse(eventsJson) as { action: string }[] | { events: { action: string }[] };
    const actions = new Set((Array.isArray(parsed) ? parsed : parsed.events).map((e) => e.action));
    for (const action of ['account.login', 'record.add', 'file.upload', 'secrets.get_secret', 'secrets.update_secret']) expect(actions).toContain(action);
  });

  it('never writes the master password to the CLI’s own config', () => {
    for (const file of filesUnder(admin.home)) {
      if (file.endsWith('notes.txt') || file.endsWith('id_test')) continue;
      expect(findCanaries(readFileSync(file), { master: canaries.master }), file).toEqual([]);
    }
  });
});
