/**
 * The Relay's shared secret: the Router signs short-lived REST-style TURN credentials with it
 * and the Relay checks them; nobody else needs it. The embedded Relay keeps it in
 * `<data>/relay-secret` (mode 0600, 32 random bytes, base64url), made at first start and kept,
 * so credentials the Router issued survive a restart. A Relay on its own host and the Routers
 * that use it read the same file (`postern relay start --secret-file`, `postern server start
 * --relay-secret-file`).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError, UsageError } from '../../core/errors.ts';

export const RELAY_SECRET_FILE = 'relay-secret';

export function loadOrCreateRelaySecret(dataDir: string): string {
  const path = join(dataDir, RELAY_SECRET_FILE);
  if (existsSync(path)) {
    const secret = readFileSync(path, 'utf8').trim();
    if (secret.length < 22) throw new PosternError('bad_state', `${path} holds no usable relay secret (at least 16 bytes); delete it to make a new one.`);
    return secret;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = toBase64Url(randomBytes(32));
  writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return secret;
}

/** A secret file's content without its trailing newline; warns when others can read it. */
export function readRelaySecretFile(file: string, flag: string, warn: (text: string) => void): string {
  const path = resolve(file);
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0 && process.platform !== 'win32') warn(`${path} can be read by other users; run: chmod 600 ${path}`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PosternError('not_found', `Cannot read ${flag} ${path}${code ? ` (${code})` : ''}.`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (new TextEncoder().encode(secret).length < 16)
    throw new UsageError(`${flag} ${path} holds less than 16 bytes; the Relay's secret must be at least 128 bits.`);
  return secret;
}
