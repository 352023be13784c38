/**
 * The Router's memo of unwrapped transmission keys. A client reuses one transmission key (and
 * its ECIES wrap) for many requests; unwrapping it is a P-256 ECDH, the dearest step of a
 * request, and a pure function of the wrap and the Router's key, so the Router remembers the
 * result for a while and the ECDH leaves the per-request path. Nothing about the protocol
 * changes: a wrap the Router has forgotten is simply unwrapped again.
 *
 * Only a request that proved who sent it (a live vault session, a device signature) adds an
 * entry, so anonymous traffic cannot flush the memo. Entries expire when idle and at a fixed
 * age, the memo is bounded, and it lives in this process only. What holding these keys means
 * for the Router's memory is in docs/decisions/0008-native-crypto.md.
 */
import { toBase64Url } from '../../core/crypto/index.ts';
import { unwrapTransmissionKey } from '../../core/protocol/envelope.ts';

export interface TransmissionKeyCacheOptions {
  maxEntries: number;
  /** Forgotten after this long without a request. */
  idleMs: number;
  /** Forgotten this long after it was first unwrapped, however busy. */
  maxAgeMs: number;
  now: () => number;
}

interface Entry {
  key: Uint8Array;
  createdAt: number;
  usedAt: number;
}

export const TRANSMISSION_KEY_DEFAULTS: TransmissionKeyCacheOptions = {
  maxEntries: 10_000,
  idleMs: 10 * 60 * 1000,
  maxAgeMs: 60 * 60 * 1000,
  now: Date.now,
};

/** An unwrapped key, and whether it came from the memo (then there is nothing to remember). */
export interface UnwrappedKey {
  key: Uint8Array;
  remembered: boolean;
}

export class TransmissionKeyCache {
  private readonly options: TransmissionKeyCacheOptions;
  private readonly entries = new Map<string, Entry>();
  private lastSweep = 0;

  constructor(options: Partial<TransmissionKeyCacheOptions> = {}) {
    this.options = { ...TRANSMISSION_KEY_DEFAULTS, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  /** The transmission key inside `wrappedKey`, from the memo or by ECIES with the Router's key. */
  async unwrap(routerPrivateKey: Uint8Array, wrappedKey: Uint8Array): Promise<UnwrappedKey> {
    const known = this.lookup(wrappedKey);
    if (known) return { key: known, remembered: true };
    return { key: await unwrapTransmissionKey(routerPrivateKey, wrappedKey), remembered: false };
  }

  /** Remembers a key once its request has proved its sender. */
  remember(wrappedKey: Uint8Array, key: Uint8Array): void {
    const id = toBase64Url(wrappedKey);
    const now = this.options.now();
    this.sweep(now);
    this.entries.delete(id);
    this.entries.set(id, { key, createdAt: now, usedAt: now });
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Drops expired keys (at most once a minute), so a quiet Router does not keep them either. */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [id, entry] of this.entries) {
      if (this.expired(entry, now)) this.entries.delete(id);
    }
  }

  private expired(entry: Entry, now: number): boolean {
    return now - entry.usedAt > this.options.idleMs || now - entry.createdAt > this.options.maxAgeMs;
  }

  private lookup(wrappedKey: Uint8Array): Uint8Array | null {
    const id = toBase64Url(wrappedKey);
    const entry = this.entries.get(id);
    if (!entry) return null;
    const now = this.options.now();
    this.entries.delete(id);
    if (this.expired(entry, now)) return null;
    entry.usedAt = now;
    this.entries.set(id, entry); // most recently used goes last
    return entry.key;
  }
}

const SWEEP_EVERY_MS = 60 * 1000;

const caches = new WeakMap<object, TransmissionKeyCache>();

/** The one memo of a Router (keyed by its deps object), shared by the vault and device APIs. */
export function transmissionKeysOf(router: object): TransmissionKeyCache {
  let cache = caches.get(router);
  if (!cache) {
    cache = new TransmissionKeyCache();
    caches.set(router, cache);
  }
  return cache;
}
