/**
 * Keys the Router derives from its one long-lived private key (router-key.json), each for one
 * purpose, so a key is never used for two jobs (the ECIES key only unwraps transmission keys):
 *
 *   signing   a P-256 ECDSA key pair: the Router signs statements a device must be able to check
 *             itself, such as an administrator's approval of a post-rotation script. Devices pin
 *             its public half at init (/api/v1/router-key `signingKey`). A database-only attacker
 *             cannot forge such a statement: the private key lives with the Router, not in the
 *             database.
 *   fakeSalt  an HMAC key for the stable, made-up KDF parameters prelogin answers for accounts
 *             that do not exist (so prelogin does not reveal who is registered).
 *
 * Derivation is HKDF-SHA256 with a label per purpose; every Router process holding the same
 * router-key.json derives the same subkeys, so scale-out needs no extra file.
 */
import { p256 } from '@noble/curves/nist.js';
import { hkdfSha256 } from './kdf.ts';
import { utf8 } from './bytes.ts';
import type { P256KeyPair } from './ecdsa.ts';

export interface RouterSubkeys {
  signing: P256KeyPair;
  fakeSalt: Uint8Array;
}

const SALT = utf8('postern/router-subkeys/v1');

/**
 * A P-256 scalar from HKDF output: 48 bytes reduced mod n − 1, plus one (FIPS 186-5 A.2.1's
 * "extra random bits" method), so the key is uniform and never zero.
 */
function p256ScalarFrom(material: Uint8Array): Uint8Array {
  return p256.utils.randomSecretKey(material);
}

export function deriveRouterSubkeys(routerPrivateKey: Uint8Array): RouterSubkeys {
  const signingPrivate = p256ScalarFrom(hkdfSha256(routerPrivateKey, SALT, utf8('signing'), 48));
  return {
    signing: { privateKey: signingPrivate, publicKey: p256.getPublicKey(signingPrivate, false) },
    fakeSalt: hkdfSha256(routerPrivateKey, SALT, utf8('fake-salt'), 32),
  };
}
