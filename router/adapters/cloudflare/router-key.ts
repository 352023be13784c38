/**
 * The Router's key pair on Workers comes from the `POSTERN_ROUTER_KEY` secret (base64url P-256
 * private key): `wrangler secret put POSTERN_ROUTER_KEY` in production; for local runs,
 * `wrangler dev --var POSTERN_ROUTER_KEY:<key>` (the runtime test does this), so no key file is
 * ever written into the repository. A Worker has no disk to keep a generated key on, and
 * clients pin the key, so it is never generated here.
 */
import { fromBase64Url, p256PublicKey } from '../../../core/crypto/index.ts';
import type { RouterKeys } from '../../deps.ts';

export const ROUTER_KEY_BINDING = 'POSTERN_ROUTER_KEY';

/** Throws a message that names the binding, never the key. */
export function routerKeysFromSecret(value: string | undefined): RouterKeys {
  if (!value) throw new Error(`the ${ROUTER_KEY_BINDING} secret is not set (wrangler secret put ${ROUTER_KEY_BINDING})`);
  try {
    const privateKey = fromBase64Url(value.trim());
    return { privateKey, publicKey: p256PublicKey(privateKey) };
  } catch {
    throw new Error(`the ${ROUTER_KEY_BINDING} secret is not a base64url P-256 private key`);
  }
}
