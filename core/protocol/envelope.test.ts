import { describe, expect, it } from 'vitest';
import { generateP256KeyPair, randomBytes, toBase64Url } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';
import { openJson, parseVaultRequestFrame, parseWireEnvelope, sealJson, sealRequest, sessionIdOf, toWireEnvelope, unwrapTransmissionKey, vaultRequestFrame } from './envelope.ts';

describe('transmission envelope', () => {
  const router = generateP256KeyPair();

  it('round-trips a request and its response', () => {
    const sealed = sealRequest(router.publicKey, 'vault/record.get', { session: 's', body: { recordUid: 'x' } });
    const wire = parseWireEnvelope(JSON.parse(JSON.stringify(toWireEnvelope(sealed))));
    const key = unwrapTransmissionKey(router.privateKey, wire.wrappedKey);
    expect(openJson(key, 'vault/record.get', wire.ciphertext)).toEqual({ session: 's', body: { recordUid: 'x' } });
    const reply = sealJson(key, 'vault/record.get/response', { ok: true });
    expect(openJson(sealed.transmissionKey, 'vault/record.get/response', reply)).toEqual({ ok: true });
  });

  it('binds the ciphertext to its route', () => {
    const sealed = sealRequest(router.publicKey, 'vault/record.get', {});
    expect(() => openJson(sealed.transmissionKey, 'vault/record.delete', sealed.ciphertext)).toThrowError(expect.objectContaining({ code: 'decrypt_failed' }));
  });

  it('refuses a transmission key wrapped to another Router', () => {
    const other = generateP256KeyPair();
    const sealed = sealRequest(other.publicKey, 'vault/x', {});
    expect(() => unwrapTransmissionKey(router.privateKey, sealed.wrappedKey)).toThrowError(expect.objectContaining({ code: 'decrypt_failed' }));
  });

  it('answers 5,000 random and mutated envelopes with PosternError only', () => {
    const valid = toWireEnvelope(sealRequest(router.publicKey, 'vault/x', { body: {} }));
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
        const key = unwrapTransmissionKey(router.privateKey, wire.wrappedKey);
        openJson(key, 'vault/x', wire.ciphertext);
      } catch (err) {
        expect(err).toBeInstanceOf(PosternError);
      }
    }
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
    for (const bad of [null, [], 'x', { body: {}, timestamp: 1.5, nonce: 'A'.repeat(22) }, { body: {}, timestamp: 1, nonce: 'short' }, { body: {}, timestamp: 1, nonce: 'A'.repeat(22), session: 5 }]) {
      expect(() => parseVaultRequestFrame(bad)).toThrowError(expect.objectContaining({ code: 'bad_request' }));
    }
  });

  it('names a session by the SHA-256 of its token, never the token', () => {
    const id = sessionIdOf('the-token');
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(id).not.toContain('the-token');
  });
});
