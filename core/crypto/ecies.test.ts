import { describe, it, expect } from 'vitest';
import { PosternError } from '../errors.ts';
import { aesGcmDecrypt } from './aes-gcm.ts';
import { concatBytes, randomBytes, toBase64Url, toHex, utf8 } from './bytes.ts';
import { generateP256KeyPair } from './ecdsa.ts';
import { ECIES_OVERHEAD, eciesDecrypt, eciesEncrypt } from './ecies.ts';
import { hkdfSha256 } from './kdf.ts';

async function expectCode(fn: () => unknown, code: string): Promise<void> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PosternError);
    expect((err as PosternError).code).toBe(code);
    return;
  }
  throw new Error(`expected PosternError(${code})`);
}

function compress(uncompressed: Uint8Array): Uint8Array {
  const prefix = (uncompressed[64]! & 1) === 1 ? 0x03 : 0x02;
  return concatBytes(new Uint8Array([prefix]), uncompressed.subarray(1, 33));
}

describe('ECIES P-256', () => {
  const recipient = generateP256KeyPair();

  it('round-trips various sizes, with and without info', async () => {
    for (const n of [0, 1, 32, 1000]) {
      const pt = randomBytes(n);
      const sealed = await eciesEncrypt(recipient.publicKey, pt);
      expect(sealed.length).toBe(n + ECIES_OVERHEAD);
      expect(sealed[0]).toBe(0x04);
      expect(await eciesDecrypt(recipient.privateKey, sealed)).toEqual(pt);

      const info = utf8('record-key:abc');
      expect(await eciesDecrypt(recipient.privateKey, await eciesEncrypt(recipient.publicKey, pt, info), info)).toEqual(pt);
    }
  });

  it('accepts a compressed recipient key (same derivation as uncompressed)', async () => {
    const pt = utf8('compressed');
    const sealed = await eciesEncrypt(compress(recipient.publicKey), pt);
    expect(await eciesDecrypt(recipient.privateKey, sealed)).toEqual(pt);
  });

  it('follows the documented construction (cross-checked with WebCrypto ECDH)', async () => {
    // Receiver side re-derived independently: z = x(r·E) via crypto.subtle ECDH,
    // k = HKDF-SHA256(z, E ‖ R, "postern/ecies/v1" ‖ info, 32), then open nonce ‖ ct ‖ tag.
    const info = utf8('ctx');
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('hello'), info);
    const E = sealed.subarray(0, 65);
    const z = await webCryptoEcdhX(recipient.privateKey, recipient.publicKey, E);
    const k = hkdfSha256(z, concatBytes(E, recipient.publicKey), concatBytes(utf8('postern/ecies/v1'), info), 32);
    expect(await aesGcmDecrypt(k, sealed.subarray(65))).toEqual(utf8('hello'));
  });

  it('tampering anywhere → decrypt_failed (or bad_request if the ephemeral point breaks)', async () => {
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('top secret'));
    for (const pos of [65, 70, 77, 80, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[pos]! ^= 0x01;
      await expectCode(() => eciesDecrypt(recipient.privateKey, bad), 'decrypt_failed');
    }
    // a flipped bit in the ephemeral X almost surely leaves the curve → bad_request
    const badPoint = sealed.slice();
    badPoint[10]! ^= 0x01;
    await expectCode(() => eciesDecrypt(recipient.privateKey, badPoint), 'bad_request');
    // truncation
    await expectCode(() => eciesDecrypt(recipient.privateKey, sealed.subarray(0, sealed.length - 1)), 'decrypt_failed');
    await expectCode(() => eciesDecrypt(recipient.privateKey, sealed.subarray(0, ECIES_OVERHEAD - 1)), 'decrypt_failed');
  });

  it('swapping in another valid ephemeral key → decrypt_failed', async () => {
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('top secret'));
    const swapped = concatBytes(generateP256KeyPair().publicKey, sealed.subarray(65));
    await expectCode(() => eciesDecrypt(recipient.privateKey, swapped), 'decrypt_failed');
  });

  it('wrong recipient key → decrypt_failed', async () => {
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('top secret'));
    await expectCode(() => eciesDecrypt(generateP256KeyPair().privateKey, sealed), 'decrypt_failed');
  });

  it('info mismatch → decrypt_failed', async () => {
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('top secret'), utf8('a'));
    await expectCode(() => eciesDecrypt(recipient.privateKey, sealed, utf8('b')), 'decrypt_failed');
    await expectCode(() => eciesDecrypt(recipient.privateKey, sealed), 'decrypt_failed');
    const noInfo = await eciesEncrypt(recipient.publicKey, utf8('top secret'));
    await expectCode(() => eciesDecrypt(recipient.privateKey, noInfo, utf8('a')), 'decrypt_failed');
    // empty info is the same as no info
    expect(await eciesDecrypt(recipient.privateKey, noInfo, new Uint8Array(0))).toEqual(utf8('top secret'));
  });

  it('malformed recipient public key → bad_request', async () => {
    const offCurve = recipient.publicKey.slice();
    offCurve[64]! ^= 0x01;
    for (const bad of [
      offCurve,
      new Uint8Array(65),
      new Uint8Array(33),
      recipient.publicKey.subarray(0, 64),
      concatBytes(new Uint8Array([0x05]), recipient.publicKey.subarray(1)),
      new Uint8Array(0),
    ]) {
      await expectCode(() => eciesEncrypt(bad, utf8('x')), 'bad_request');
    }
  });

  it('malformed ephemeral point in ciphertext → bad_request', async () => {
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('x'));
    const compressedPrefix = sealed.slice();
    compressedPrefix[0] = 0x02;
    await expectCode(() => eciesDecrypt(recipient.privateKey, compressedPrefix), 'bad_request');
    const zeros = concatBytes(new Uint8Array([0x04]), new Uint8Array(64), sealed.subarray(65));
    await expectCode(() => eciesDecrypt(recipient.privateKey, zeros), 'bad_request');
  });

  it('invalid recipient private key → bad_request', async () => {
    const sealed = await eciesEncrypt(recipient.publicKey, utf8('x'));
    await expectCode(() => eciesDecrypt(new Uint8Array(32), sealed), 'bad_request');
    await expectCode(() => eciesDecrypt(new Uint8Array(31), sealed), 'bad_request');
  });

  it('produces fresh ephemeral keys', async () => {
    const a = await eciesEncrypt(recipient.publicKey, utf8('same'));
    const b = await eciesEncrypt(recipient.publicKey, utf8('same'));
    expect(toHex(a.subarray(0, 65))).not.toBe(toHex(b.subarray(0, 65)));
  });
});

// Independent ECDH (WebCrypto) for the construction test: returns the 32-byte shared x.
async function webCryptoEcdhX(priv: Uint8Array, pub: Uint8Array, peer: Uint8Array): Promise<Uint8Array> {
  const jwk: JsonWebKey = {
    kty: 'EC',
    crv: 'P-256',
    d: toBase64Url(priv),
    x: toBase64Url(pub.subarray(1, 33)),
    y: toBase64Url(pub.subarray(33, 65)),
  };
  const privateKey = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const peerKey = await crypto.subtle.importKey('raw', new Uint8Array(peer), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: peerKey }, privateKey, 256));
}
