import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import {
  deriveSignallingKey,
  newSignallingSessionId,
  newTrafficEncryptionSeed,
  OFFER_MAX_AGE_MS,
  openSignallingAnswer,
  openSignallingOffer,
  sealSignalling,
  type SignallingOffer,
} from './webrtc-signalling.ts';

const resource = 'AAAAAAAAAAAAAAAAAAAAAA';
const other = 'BBBBBBBBBBBBBBBBBBBBBB';

function offer(sessionId = newSignallingSessionId(), issuedAt = Date.now()): SignallingOffer {
  return { v: 1, sessionId, issuedAt, description: { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n' } };
}

/** The PosternError code `fn` throws or rejects with, or undefined when it succeeds. */
async function code(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PosternError);
    return (e as PosternError).code;
  }
  return undefined;
}

describe('webrtc signalling', () => {
  const seed = newTrafficEncryptionSeed();
  const key = deriveSignallingKey(seed, resource);

  it('derives one key per seed and resource', async () => {
    expect(deriveSignallingKey(seed, resource)).toEqual(key);
    expect(deriveSignallingKey(seed, other)).not.toEqual(key);
    expect(deriveSignallingKey(newTrafficEncryptionSeed(), resource)).not.toEqual(key);
    expect(key).toHaveLength(32);
  });

  it('seals and opens an offer and an answer', async () => {
    const o = offer();
    const sealed = await sealSignalling(key, resource, o);
    expect(sealed).not.toContain('v=0');
    expect(await openSignallingOffer(key, resource, o.sessionId, sealed, Date.now())).toEqual(o);
    const answer = { v: 1 as const, sessionId: o.sessionId, description: { type: 'answer' as const, sdp: 'v=0\r\n' }, target: { host: 'db1', port: 5432 } };
    expect(await openSignallingAnswer(key, resource, o.sessionId, await sealSignalling(key, resource, answer))).toEqual(answer);
  });

  it('refuses a wrong key, another resource or session, a swapped direction, tampering and junk', async () => {
    const o = offer();
    const sealed = await sealSignalling(key, resource, o);
    expect(await code(() => openSignallingOffer(deriveSignallingKey(newTrafficEncryptionSeed(), resource), resource, o.sessionId, sealed, Date.now()))).toBe(
      'decrypt_failed',
    );
    expect(await code(() => openSignallingOffer(deriveSignallingKey(seed, other), other, o.sessionId, sealed, Date.now()))).toBe('decrypt_failed');
    expect(await code(() => openSignallingOffer(key, resource, newSignallingSessionId(), sealed, Date.now()))).toBe('decrypt_failed');
    expect(await code(() => openSignallingAnswer(key, resource, o.sessionId, sealed))).toBe('decrypt_failed');
    const flipped = sealed.slice(0, 20) + (sealed[20] === 'A' ? 'B' : 'A') + sealed.slice(21);
    expect(await code(() => openSignallingOffer(key, resource, o.sessionId, flipped, Date.now()))).toBe('decrypt_failed');
    for (const junk of [undefined, 42, '', '!!!', 'x'.repeat(200_000)]) {
      expect(await code(() => openSignallingOffer(key, resource, o.sessionId, junk, Date.now()))).toMatch(/bad_request|decrypt_failed/);
    }
  });

  it('refuses offers too old or from the future', async () => {
    const now = Date.now();
    const old = offer(undefined, now - OFFER_MAX_AGE_MS - 1);
    const sealedOld = await sealSignalling(key, resource, old);
    expect(await code(() => openSignallingOffer(key, resource, old.sessionId, sealedOld, now))).toBe('request_expired');
    const future = offer(undefined, now + OFFER_MAX_AGE_MS + 1);
    const sealedFuture = await sealSignalling(key, resource, future);
    expect(await code(() => openSignallingOffer(key, resource, future.sessionId, sealedFuture, now))).toBe('request_expired');
  });

  it('refuses a well-sealed message that breaks the schema', async () => {
    const sessionId = newSignallingSessionId();
    const bad = { v: 2, sessionId, issuedAt: Date.now(), description: { type: 'offer', sdp: 'v=0' } } as unknown as SignallingOffer;
    const sealed = await sealSignalling(key, resource, bad);
    expect(await code(() => openSignallingOffer(key, resource, sessionId, sealed, Date.now()))).toBe('bad_request');
  });

  it('carries the largest SCTP packet a peer accepts, and refuses one outside 1228–16384', async () => {
    const o = { ...offer(), sctpMaxPacket: 16384 };
    expect((await openSignallingOffer(key, resource, o.sessionId, await sealSignalling(key, resource, o), Date.now())).sctpMaxPacket).toBe(16384);
    for (const sctpMaxPacket of [1227, 16385, 1500.5, -1]) {
      const bad = { ...offer(), sctpMaxPacket };
      const sealed = await sealSignalling(key, resource, bad);
      expect(await code(() => openSignallingOffer(key, resource, bad.sessionId, sealed, Date.now())), String(sctpMaxPacket)).toBe('bad_request');
    }
  });

  it('refuses malformed or short seeds with advice', async () => {
    expect(await code(() => deriveSignallingKey('***', resource))).toBe('bad_state');
    expect(await code(() => deriveSignallingKey('AAAA', resource))).toBe('bad_state');
  });
});
