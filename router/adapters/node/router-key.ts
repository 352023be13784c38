/**
 * The Router's key pair is made at first start and kept in the data directory, mode 0600.
 * Clients pin its public half; losing the file means clients must log in again.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64Url, generateP256KeyPair, p256PublicKey, toBase64Url } from '../../../core/crypto/index.ts';
import type { RouterKeys } from '../../deps.ts';

export const ROUTER_KEY_FILE = 'router-key.json';

export function loadOrCreateRouterKeys(dataDir: string): RouterKeys {
  const file = join(dataDir, ROUTER_KEY_FILE);
  if (existsSync(file)) {
    const { privateKey } = JSON.parse(readFileSync(file, 'utf8')) as { privateKey: string };
    const secret = fromBase64Url(privateKey);
    return { privateKey: secret, publicKey: p256PublicKey(secret) };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pair = generateP256KeyPair();
  writeFileSync(file, JSON.stringify({ algorithm: 'p256', privateKey: toBase64Url(pair.privateKey), createdAt: new Date().toISOString() }) + '\n', {
    mode: 0o600,
    flag: 'wx',
  });
  return pair;
}
