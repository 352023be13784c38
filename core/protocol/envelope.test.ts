import { describe, expect, it } from 'vitest';
import { generateP256KeyPair, randomBytes, toBase64Url } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';
import {
  newTransmissionKey,
  openJson,
  parseVaultRequestFrame,
  parseWireEnvelope,
  ReusedTransmissionKey,
  sealJson,
  sealRequest,
  sealWithKey,
  sessionIdOf,
  toWireEnvelope,
  TRANSMISSION_KEY_REUSE_MS,
  TRANSMISSION_KEY_REUSE_REQUESTS,
  unwrapTransmissionKey,
  vaultRequestFrame,
} from './envelope.ts';

describe('transmission envelope', () => {
  const router = generateP256KeyPair();

  it('round-trips a request and its response', async () => {
    const sealed = await sealRequest(router.publicKey, 'vault/record.get', { session: 's', body: { recordUid: 'x' } });
    const wire = parseWireEnvelope(JSON.parse(JSON.stringify(toWireEnvelope(sealed))));
    const key = await unwrapTransmissionKey(router.privateKey, wire.wrappedKey);
    expect(await openJson(key, 'vault/record.get', wire.ciphertext)).toEqual({ session: 's', body: { recordUid: 'x' } });
    const reply = await sealJson(key, 'vault/record.get/response', { ok: true });
    expect(await openJson(sealed.transmissionKey, 'vault/record.get/response', reply)).toEqual({ ok: true });
  });

  it('binds the ciphertext to its route', async () => {
    const sealed = await sealRequest(router.publicKey, 'vault/record.get', {});
    await expect(openJson(sealed.transmissionKey, 'vault/record.delete', sealed.ciphertext)).rejects.toThrowError(
      expect.objectContaining({ code: 'decrypt_failed' }),
    );
  });

  it('refuses a transmission key wrapped to another Router', async () => {
    const other = generateP256KeyPair();
    const sealed = await sealRequest(other.publicKey, 'vault/x', {});
    await expect(unwrapTransmissionKey(router.privateKey, sealed.wrappedKey)).rejects.toThrowError(expect.objectContaining({ code: 'decrypt_failed' }));
  });

  it('seals many requests under one transmission key, each with its own ciphertext', async () => {
    const key = await newTransmissionKey(router.publicKey);
    const a = await sealWithKey(key, 'vault/x', { n: 1 });
    const b = await sealWithKey(key, 'vault/x', { n: 1 });
    expect(a.wrappedKey).toEqual(key.wrappedKey);
    expect(b.wrappedKey).toEqual(key.wrappedKey);
    expect(a.ciphertext).not.toEqual(b.ciphertext);
    const unwrapped = await unwrapTransmissionKey(router.privateKey, a.wrappedKey);
    expect(unwrapped).toEqual(key.transmissionKey);
    expect(await openJson(unwrapped, 'vault/x', a.ciphertext)).toEqual({ n: 1 });
    expect(await openJson(unwrapped, 'vault/x', b.ciphertext)).toEqual({ n: 1 });
  });

  it('answers 5,000 random and mutated envelopes with PosternError only', async () => {
    const valid = toWireEnvelope(await sealRequest(router.publicKey, 'vault/x', { body: {} }));
    const samples: unknown[] = [null, 1, 'x', [], {}, { v: 1 }, { v: 1, key: 1, payload: 2 }, { ...valid, v: '1' }];
    const bytes = (n: number) => toBase64Url(randomBytes(n));
    for (let i = 0; i < 5_000; i++) {
      const r = randomBytes(3);
      const choice = r[0]! % 5;
      let candidate: unknown;
      if (choice === 0) candidate = samples[r[1]! % samples.length];
      else if (choice === 1) candidate = { v: 1, key: bytes(r[1]!), payload: bytes(r[2]!) };
      else if (choice === 2) candidate = { ...valid, key: valid.key.slice(0, r[1]! % valid.key.length) };
      else if (choice === 3) {
        const p = valid.payload.split('');
        p[r[1]! % p.length] = 'ABCDEFGHIJKLMNOP'[r[2]! % 16]!;
        candidate = { ...valid, payload: p.join('') };
      } else candidate = { v: 1, key: valid.key, payload: valid.payload + '!' };
      try {
        const wire = parseWireEnvelope(candidate);
        const key = await unwrapTransmissionKey(router.privateKey, wire.wrappedKey);
        await openJson(key, 'vault/x', wire.ciphertext);
      } catch (err) {
        expect(err).toBeInstanceOf(PosternError);
      }
    }
  });
});

describe('ReusedTransmissionKey', () => {
  const router = generateP256KeyPair();

  it('returns the same key for consecutive calls, and one the Router can unwrap', async () => {
    const reused = new ReusedTransmissionKey(router.publicKey, () => 1_000);
    const a = await reused.next();
    const b = await reused.next();
    const c = await reused.next();
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(await unwrapTransmissionKey(router.privateKey, a.wrappedKey)).toEqual(a.transmissionKey);
  });

  it('makes a new key once TRANSMISSION_KEY_REUSE_MS has passed, not before', async () => {
    let now = 1_000_000;
    const reused = new ReusedTransmissionKey(router.publicKey, () => now);
    const first = await reused.next();
    now += TRANSMISSION_KEY_REUSE_MS;
    expect(await reused.next()).toBe(first);
    now += 1;
    const second = await reused.next();
    expect(second).not.toBe(first);
    expect(second.transmissionKey).not.toEqual(first.transmissionKey);
    expect(second.wrappedKey).not.toEqual(first.wrappedKey);
    expect(await reused.next()).toBe(second);
  });

  it('makes a new key after TRANSMISSION_KEY_REUSE_REQUESTS uses', async () => {
    const reused = new ReusedTransmissionKey(router.publicKey, () => 1_000);
    const first = await reused.next();
    // Uses 2 … TRANSMISSION_KEY_REUSE_REQUESTS still share it (next() returns the same promise, no crypto).
    const promise = reused.next();
    for (let i = 3; i <= TRANSMISSION_KEY_REUSE_REQUESTS; i++) expect(reused.next()).toBe(promise);
    expect(await promise).toBe(first);
    const second = await reused.next();
    expect(second).not.toBe(first);
    expect(second.transmissionKey).not.toEqual(first.transmissionKey);
    expect(await reused.next()).toBe(second);
  });

  it('shares one key between concurrent first calls', async () => {
    const reused = new ReusedTransmissionKey(router.publicKey, () => 1_000);
    const keys = await Promise.all(Array.from({ length: 8 }, () => reused.next()));
    for (const key of keys) expect(key).toBe(keys[0]);
  });

  it('does not keep a key whose wrapping failed', async () => {
    const reused = new ReusedTransmissionKey(new Uint8Array(65), () => 1_000); // not a point on P-256
    const first = reused.next();
    await expect(first).rejects.toThrow();
    const second = reused.next();
    expect(second).not.toBe(first); // tried again, not the failed promise handed out for the next 100,000 calls
    await expect(second).rejects.toThrow();
  });
});

describe('vault request frame', () => {
  it('carries a fresh nonce and the time in every request, and round-trips', () => {
    const a = vaultRequestFrame({ x: 1 }, 'token', 1_700_000_000_000);
    const b = vaultRequestFrame({ x: 1 }, 'token', 1_700_000_000_000);
    expect(a.nonce).not.toBe(b.nonce);
    expect(parseVaultRequestFrame(JSON.parse(JSON.stringify(a)))).toEqual(a);
    expect(parseVaultRequestFrame(vaultRequestFrame({}, undefined))).not.toHaveProperty('session');
  });

  it('tells an old client without timestamp and nonce to upgrade, and refuses malformed ones', () => {
    expect(() => parseVaultRequestFrame({ session: 's', body: {} })).toThrowError(/Upgrade/);
    for (const bad of [
      null,
      [],
      'x',
      { body: {}, timestamp: 1.5, nonce: 'A'.repeat(22) },
      { body: {}, timestamp: 1, nonce: 'short' },
      { body: {}, timestamp: 1, nonce: 'A'.repeat(22), session: 5 },
    ]) {
      expect(() => parseVaultRequestFrame(bad)).toThrowError(expect.objectContaining({ code: 'bad_request' }));
    }
  });

  it('names a session by the SHA-256 of its token, never the token', () => {
    const id = sessionIdOf('the-token');
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(id).not.toContain('the-token');
  });
});
