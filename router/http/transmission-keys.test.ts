/**
 * The Router's memo of unwrapped transmission keys (transmission-keys.ts): a remembered wrap
 * costs no ECDH, and the memo forgets by idleness, by age and by its bound. The endpoints'
 * rules for what may be remembered are tested over HTTP: test/router-edge/replay.test.ts
 * (vault sessions) and router/secrets/endpoint.test.ts (devices).
 */
import { describe, expect, it } from 'vitest';
import { generateP256KeyPair, randomBytes } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { newTransmissionKey, type TransmissionKey } from '../../core/protocol/envelope.ts';
import { TRANSMISSION_KEY_DEFAULTS, TransmissionKeyCache, transmissionKeysOf } from './transmission-keys.ts';

const router = generateP256KeyPair();
/** A key that cannot unwrap anything sealed to `router`: a hit must not have needed it. */
const wrongKey = generateP256KeyPair().privateKey;
/** Not a P-256 private key at all (zero is out of range). */
const invalidKey = new Uint8Array(32);

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

/** A cache with its clock, and a helper that unwraps then remembers, as the endpoints do once a sender is proved. */
function cache(options: { maxEntries?: number; idleMs?: number; maxAgeMs?: number } = {}) {
  const c = clock();
  const keys = new TransmissionKeyCache({ ...options, now: c.now });
  const learn = async (wrap: TransmissionKey) => {
    const { key, remembered } = await keys.unwrap(router.privateKey, wrap.wrappedKey);
    expect(remembered).toBe(false);
    expect(key).toEqual(wrap.transmissionKey);
    keys.remember(wrap.wrappedKey, key);
  };
  /** Whether `wrap` is still remembered: with a key that cannot unwrap it, only the memo can answer. */
  const held = async (wrap: TransmissionKey) => {
    try {
      const { key, remembered } = await keys.unwrap(wrongKey, wrap.wrappedKey);
      expect(remembered).toBe(true);
      expect(key).toEqual(wrap.transmissionKey);
      return true;
    } catch (err) {
      expect(err).toMatchObject({ code: 'decrypt_failed' });
      return false;
    }
  };
  return { keys, clock: c, learn, held };
}

describe('TransmissionKeyCache', () => {
  it('answers a remembered wrap from the memo, without the Router key', async () => {
    const { keys, learn } = cache();
    const wrap = await newTransmissionKey(router.publicKey);
    await learn(wrap);
    expect(keys.size).toBe(1);
    for (const privateKey of [wrongKey, invalidKey, router.privateKey]) {
      const hit = await keys.unwrap(privateKey, wrap.wrappedKey);
      expect(hit).toEqual({ key: wrap.transmissionKey, remembered: true });
    }
    // A copy of the wrap's bytes is the same wrap.
    expect((await keys.unwrap(invalidKey, wrap.wrappedKey.slice())).remembered).toBe(true);
  });

  it('does not remember on its own: an unwrap without remember() unwraps again next time', async () => {
    const { keys } = cache();
    const wrap = await newTransmissionKey(router.publicKey);
    expect(await keys.unwrap(router.privateKey, wrap.wrappedKey)).toEqual({ key: wrap.transmissionKey, remembered: false });
    expect(keys.size).toBe(0);
    expect(await keys.unwrap(router.privateKey, wrap.wrappedKey)).toEqual({ key: wrap.transmissionKey, remembered: false });
    await expect(keys.unwrap(wrongKey, wrap.wrappedKey)).rejects.toMatchObject({ code: 'decrypt_failed' });
  });

  it('forgets a wrap left idle for longer than idleMs, and unwraps it again', async () => {
    const { keys, clock, learn, held } = cache({ idleMs: 1_000, maxAgeMs: 60_000 });
    const wrap = await newTransmissionKey(router.publicKey);
    await learn(wrap);
    clock.t += 1_000;
    expect(await held(wrap)).toBe(true); // exactly idleMs: still there, and the use refreshes it
    clock.t += 1_000;
    expect(await held(wrap)).toBe(true);
    clock.t += 1_001;
    expect(await held(wrap)).toBe(false);
    expect(keys.size).toBe(0);
    expect(await keys.unwrap(router.privateKey, wrap.wrappedKey)).toEqual({ key: wrap.transmissionKey, remembered: false });
  });

  it('forgets a wrap maxAgeMs after it was remembered, however busy', async () => {
    const { keys, clock, learn, held } = cache({ idleMs: 1_000, maxAgeMs: 5_000 });
    const wrap = await newTransmissionKey(router.publicKey);
    await learn(wrap);
    for (let i = 0; i < 5; i++) {
      clock.t += 1_000;
      expect(await held(wrap), `at ${clock.t}`).toBe(true);
    }
    clock.t += 1;
    expect(await held(wrap)).toBe(false);
    expect(await keys.unwrap(router.privateKey, wrap.wrappedKey)).toEqual({ key: wrap.transmissionKey, remembered: false });
    // Remembered again, its age starts again.
    await learn(wrap);
    for (let i = 0; i < 5; i++) {
      clock.t += 1_000;
      expect(await held(wrap)).toBe(true);
    }
    clock.t += 1;
    expect(await held(wrap)).toBe(false);
  });

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const { keys, learn, held } = cache({ maxEntries: 3 });
    const [a, b, c, d, e] = await Promise.all(Array.from({ length: 5 }, () => newTransmissionKey(router.publicKey)));
    await learn(a!);
    await learn(b!);
    await learn(c!);
    expect(await held(a!)).toBe(true); // a is now the most recently used; b the least
    await learn(d!);
    expect(keys.size).toBe(3);
    expect(await held(b!)).toBe(false);
    expect(await held(a!)).toBe(true);
    expect(await held(c!)).toBe(true);
    expect(await held(d!)).toBe(true);
    // Order of use now: a, c, d (oldest first); remembering e evicts a.
    await learn(e!);
    expect(keys.size).toBe(3);
    expect(await held(a!)).toBe(false);
    expect(await held(c!)).toBe(true);
    expect(await held(d!)).toBe(true);
    expect(await held(e!)).toBe(true);
  });

  it('refuses an unremembered wrap it cannot unwrap with decrypt_failed', async () => {
    const { keys, learn } = cache();
    const remembered = await newTransmissionKey(router.publicKey);
    await learn(remembered);
    const other = await newTransmissionKey(router.publicKey);
    const refusal = await keys.unwrap(wrongKey, other.wrappedKey).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(PosternError);
    expect(refusal).toMatchObject({ code: 'decrypt_failed' });
    // Wrapped to another Router, or not a wrap at all.
    const elsewhere = await newTransmissionKey(generateP256KeyPair().publicKey);
    await expect(keys.unwrap(router.privateKey, elsewhere.wrappedKey)).rejects.toMatchObject({ code: 'decrypt_failed' });
    await expect(keys.unwrap(router.privateKey, randomBytes(remembered.wrappedKey.length))).rejects.toMatchObject({ code: 'decrypt_failed' });
    // A wrap differing from a remembered one in one byte is not that wrap.
    const flipped = remembered.wrappedKey.slice();
    flipped[flipped.length - 1]! ^= 1;
    await expect(keys.unwrap(wrongKey, flipped)).rejects.toMatchObject({ code: 'decrypt_failed' });
    expect(keys.size).toBe(1);
  });

  it('uses an hour, ten minutes idle and 10,000 entries by default', () => {
    expect(TRANSMISSION_KEY_DEFAULTS).toMatchObject({ maxEntries: 10_000, idleMs: 10 * 60 * 1000, maxAgeMs: 60 * 60 * 1000 });
  });
});

describe('transmissionKeysOf', () => {
  it('gives one memo per Router (deps object), shared by its endpoints', () => {
    const deps = {};
    expect(transmissionKeysOf(deps)).toBe(transmissionKeysOf(deps));
    expect(transmissionKeysOf({})).not.toBe(transmissionKeysOf(deps));
  });
});
