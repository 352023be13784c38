/**
 * Keys imported into a native implementation once, not per call: importing a key costs about
 * as much as using it. Shared by the two native back ends (node-crypto.ts, webcrypto.ts), each
 * with its own key type.
 *
 *   - Private keys (the Router's ECIES key, a device's or gateway's signing key) are cached
 *     against the Uint8Array that holds them, in a WeakMap: the entry lives exactly as long as
 *     the caller keeps the array, and a caller that overwrites the array in place gets a fresh
 *     import (a SHA-256 fingerprint notices; no copy of the key is kept beside the import).
 *   - Public keys (a device's, the Router's) in a bounded LRU keyed by their bytes. One-off keys
 *     (ECIES ephemeral points) bypass it so they cannot evict the useful ones.
 *
 * A failed import is not cached.
 */
import { equalBytes, fromHex, toBase64Url } from './bytes.ts';
import { sha256 } from './kdf.ts';

/**
 * DER around bare P-256 keys, for the native importers: PKCS #8 for a scalar (RFC 5208 around
 * RFC 5915's ECPrivateKey, the optional public key left out: the platform computes it, faster
 * than here) and SubjectPublicKeyInfo for a 65-byte uncompressed point (RFC 5480).
 */
export const PKCS8_P256_PREFIX = fromHex('304102010030130607' + '2a8648ce3d0201' + '0608' + '2a8648ce3d030107' + '042730250201010420');
export const SPKI_P256_PREFIX = fromHex('3059301306072a8648ce3d020106082a8648ce3d030107034200');

/** Enough for every device and gateway a busy Router serves; each entry is a few hundred bytes. */
export const PUBLIC_KEY_CACHE_SIZE = 8192;

interface PrivateKeyEntry<K> {
  fingerprint: Uint8Array;
  imported: Map<string, K>;
}

export class PrivateKeyCache<K> {
  private readonly entries = new WeakMap<Uint8Array, PrivateKeyEntry<K>>();

  /** The key imported for `use` (e.g. 'ECDH', 'ECDSA'), importing it on first use. */
  get(privateKey: Uint8Array, use: string, load: () => K): K {
    const fingerprint = sha256(privateKey);
    let entry = this.entries.get(privateKey);
    if (!entry || !equalBytes(entry.fingerprint, fingerprint)) {
      entry = { fingerprint, imported: new Map() };
      this.entries.set(privateKey, entry);
    }
    const cached = entry.imported.get(use);
    if (cached !== undefined) return cached;
    const imported = load();
    entry.imported.set(use, imported);
    if (imported instanceof Promise) {
      const current = entry;
      imported.catch(() => {
        if (current.imported.get(use) === imported) current.imported.delete(use);
      });
    }
    return imported;
  }
}

export class PublicKeyCache<K> {
  private readonly entries = new Map<string, K>();

  constructor(private readonly capacity = PUBLIC_KEY_CACHE_SIZE) {}

  /** The key imported for `use`, from the cache when `cache` is true (a key that will be seen again). */
  get(publicKey: Uint8Array, use: string, cache: boolean, load: () => K): K {
    if (!cache) return load();
    const id = `${use}:${toBase64Url(publicKey)}`;
    const hit = this.entries.get(id);
    if (hit !== undefined) {
      this.entries.delete(id); // most recently used goes last
      this.entries.set(id, hit);
      return hit;
    }
    const imported = load(); // a synchronous import that throws is not cached
    this.entries.set(id, imported);
    if (imported instanceof Promise) {
      imported.catch(() => {
        if (this.entries.get(id) === imported) this.entries.delete(id);
      });
    }
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return imported;
  }
}
