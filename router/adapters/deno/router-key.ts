/**
 * The Router's key pair under Deno: from the environment (POSTERN_ROUTER_KEY, the base64url
 * P-256 private key, as a secret store would inject it), or from `<data>/router-key.json`, the
 * same file the Node adapter keeps, made at first start with mode 0600. A data directory can
 * therefore move between the Node and Deno Routers without clients logging in again.
 */
import { fromBase64Url, generateP256KeyPair, p256PublicKey, toBase64Url } from '../../../core/crypto/index.ts';
import type { RouterKeys } from '../../deps.ts';
import { denoRuntime } from './deno-api.ts';

export const ROUTER_KEY_ENV = 'POSTERN_ROUTER_KEY';
export const ROUTER_KEY_FILE = 'router-key.json';

/** Keys from a base64url private key; throws a message that names the source, never the key. */
export function routerKeysFromPrivateKey(encoded: string, source: string): RouterKeys {
  try {
    const privateKey = fromBase64Url(encoded.trim());
    return { privateKey, publicKey: p256PublicKey(privateKey) };
  } catch {
    throw new Error(`${source} does not hold a base64url P-256 private key`);
  }
}

export async function loadOrCreateRouterKeys(options: { envValue?: string | undefined; dataDir?: string | undefined }): Promise<RouterKeys> {
  if (options.envValue) return routerKeysFromPrivateKey(options.envValue, ROUTER_KEY_ENV);
  if (!options.dataDir) throw new Error(`set ${ROUTER_KEY_ENV} or a data directory (POSTERN_DATA_DIR) for the Router key`);
  const deno = denoRuntime();
  const file = `${options.dataDir.replace(/\/+$/, '')}/${ROUTER_KEY_FILE}`;
  try {
    const { privateKey } = JSON.parse(await deno.readTextFile(file)) as { privateKey: string };
    return routerKeysFromPrivateKey(privateKey, file);
  } catch (err) {
    if (!(err instanceof deno.errors.NotFound)) throw err;
  }
  await deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const pair = generateP256KeyPair();
  const body = JSON.stringify({ algorithm: 'p256', privateKey: toBase64Url(pair.privateKey), createdAt: new Date().toISOString() }) + '\n';
  try {
    await deno.writeTextFile(file, body, { mode: 0o600, createNew: true });
  } catch (err) {
    // Another process made it first: use that one, so every Router shares one key.
    if (!(err instanceof deno.errors.AlreadyExists)) throw err;
    return routerKeysFromPrivateKey((JSON.parse(await deno.readTextFile(file)) as { privateKey: string }).privateKey, file);
  }
  return pair;
}
