import { describe, it, expect } from 'vitest';
import { PosternError } from '../errors.ts';
import { concatBytes, fromHex, randomBytes, toHex, utf8 } from './bytes.ts';
import { ecdsaNormalizeSignature, ecdsaSign, ecdsaVerify, generateP256KeyPair, p256PublicKey, p256UncompressedPublicKey } from './ecdsa.ts';
import { nobleEcdsaSign } from './noble.ts';

// RFC 6979 Appendix A.2.5 (ECDSA, 256 bits, prime field), key pair and SHA-256 signatures.
const X = 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721';
const UX = '60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6';
const UY = '7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299';
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const SAMPLE_R = 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716';
const SAMPLE_S = 'f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8'; // high S
const TEST_R = 'f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367';
const TEST_S = '019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083'; // low S

function hex32(n: bigint): string {
  return n.toString(16).padStart(64, '0');
}

describe('ECDSA P-256/SHA-256 (RFC 6979 A.2.5)', () => {
  const priv = fromHex(X);
  const pub = fromHex('04' + UX + UY);

  it('derives the published public key', () => {
    expect(toHex(p256PublicKey(priv))).toBe('04' + UX + UY);
  });

  // Exact RFC 6979 bytes hold for the deterministic @noble reference (the fallback signer);
  // ecdsaSign uses WebCrypto's random k where WebCrypto exists, so it is checked by property.
  it('message "sample" (noble reference): same r, S normalised to n − s (RFC s is high)', async () => {
    const sig = nobleEcdsaSign(priv, utf8('sample'));
    expect(sig.length).toBe(64);
    expect(toHex(sig.subarray(0, 32))).toBe(SAMPLE_R);
    const lowS = hex32(N - BigInt('0x' + SAMPLE_S));
    expect(toHex(sig.subarray(32))).toBe(lowS);
    expect(await ecdsaVerify(pub, utf8('sample'), sig)).toBe(true);

    // The RFC's own (high-S) encoding is malleable: rejected by the strict verifier, and
    // ecdsaNormalizeSignature maps it to exactly what the reference produces.
    const rfcSig = fromHex(SAMPLE_R + SAMPLE_S);
    expect(await ecdsaVerify(pub, utf8('sample'), rfcSig)).toBe(false);
    expect(toHex(ecdsaNormalizeSignature(rfcSig))).toBe(toHex(sig));
  });

  it('message "test" (noble reference): exact RFC r and s (already low-S)', async () => {
    const sig = nobleEcdsaSign(priv, utf8('test'));
    expect(toHex(sig)).toBe(TEST_R + TEST_S);
    expect(await ecdsaVerify(pub, utf8('test'), sig)).toBe(true);
    expect(toHex(ecdsaNormalizeSignature(sig))).toBe(TEST_R + TEST_S);
  });

  it('ecdsaSign with the RFC key: 64 bytes, low S, verifies (random k, so not the RFC bytes)', async () => {
    for (const msg of ['sample', 'test']) {
      const sig = await ecdsaSign(priv, utf8(msg));
      expect(sig.length).toBe(64);
      expect(BigInt('0x' + toHex(sig.subarray(32))) <= N >> 1n).toBe(true);
      expect(await ecdsaVerify(pub, utf8(msg), sig)).toBe(true);
      expect(toHex(ecdsaNormalizeSignature(sig))).toBe(toHex(sig));
      expect(await ecdsaVerify(pub, utf8(msg + '!'), sig)).toBe(false);
    }
  });

  it('verifies with the compressed public key too', async () => {
    const y = BigInt('0x' + UY);
    const compressed = fromHex((y & 1n ? '03' : '02') + UX);
    expect(toHex(p256UncompressedPublicKey(compressed))).toBe('04' + UX + UY);
    expect(await ecdsaVerify(compressed, utf8('test'), fromHex(TEST_R + TEST_S))).toBe(true);
    expect(await ecdsaVerify(compressed, utf8('test'), await ecdsaSign(priv, utf8('test')))).toBe(true);
  });

  it('rejects a modified message or signature', async () => {
    const sig = fromHex(TEST_R + TEST_S);
    expect(await ecdsaVerify(pub, utf8('tesT'), sig)).toBe(false);
    expect(await ecdsaVerify(pub, utf8('test '), sig)).toBe(false);
    for (const pos of [0, 31, 32, 63]) {
      const bad = sig.slice();
      bad[pos]! ^= 0x01;
      expect(await ecdsaVerify(pub, utf8('test'), bad)).toBe(false);
    }
    expect(await ecdsaVerify(generateP256KeyPair().publicKey, utf8('test'), sig)).toBe(false);
  });
});

describe('ECDSA key pairs and round trips', () => {
  it('generates valid key pairs and signs/verifies', async () => {
    const { privateKey, publicKey } = generateP256KeyPair();
    expect(privateKey.length).toBe(32);
    expect(publicKey.length).toBe(65);
    expect(publicKey[0]).toBe(0x04);
    expect(toHex(p256PublicKey(privateKey))).toBe(toHex(publicKey));
    for (let i = 0; i < 20; i++) {
      const msg = randomBytes(i * 7);
      const sig = await ecdsaSign(privateKey, msg);
      expect(sig.length).toBe(64);
      // low S always
      expect(BigInt('0x' + toHex(sig.subarray(32))) <= N >> 1n).toBe(true);
      expect(await ecdsaVerify(publicKey, msg, sig)).toBe(true);
    }
  });

  it('rejects invalid private keys with bad_request', async () => {
    for (const bad of [new Uint8Array(31), new Uint8Array(32), fromHex(hex32(N)), fromHex('ff'.repeat(32))]) {
      expect(() => p256PublicKey(bad)).toThrow(PosternError);
      await expect(ecdsaSign(bad, utf8('m'))).rejects.toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
  });
});

describe('ecdsaVerify never throws on garbage', async () => {
  const { privateKey, publicKey } = generateP256KeyPair();
  const msg = utf8('hello');
  const sig = await ecdsaSign(privateKey, msg);
  const offCurve = publicKey.slice();
  offCurve[64]! ^= 0x01;

  const cases: Array<[string, unknown, unknown, unknown]> = [
    ['empty signature', publicKey, msg, new Uint8Array(0)],
    ['63-byte signature', publicKey, msg, sig.subarray(0, 63)],
    ['65-byte signature', publicKey, msg, concatBytes(sig, new Uint8Array(1))],
    ['DER-sized garbage', publicKey, msg, randomBytes(72)],
    ['all-zero signature (r = s = 0)', publicKey, msg, new Uint8Array(64)],
    ['r = n', publicKey, msg, concatBytes(fromHex(hex32(N)), sig.subarray(32))],
    ['s = n', publicKey, msg, concatBytes(sig.subarray(0, 32), fromHex(hex32(N)))],
    ['all-ff signature', publicKey, msg, new Uint8Array(64).fill(0xff)],
    ['off-curve public key', offCurve, msg, sig],
    ['identity / zero public key', new Uint8Array(65), msg, sig],
    ['bad prefix public key', concatBytes(new Uint8Array([0x05]), publicKey.subarray(1)), msg, sig],
    ['truncated public key', publicKey.subarray(0, 64), msg, sig],
    ['empty public key', new Uint8Array(0), msg, sig],
    ['random 33-byte key', randomBytes(33), msg, sig],
    ['non-Uint8Array inputs', 'key', 'msg', 'sig'],
    ['null inputs', null, null, null],
  ];
  for (const [name, pk, m, s] of cases) {
    it(name, async () => {
      await expect(ecdsaVerify(pk as Uint8Array, m as Uint8Array, s as Uint8Array)).resolves.toBe(false);
    });
  }

  it('high-S twin of a valid signature is rejected', async () => {
    const s = BigInt('0x' + toHex(sig.subarray(32)));
    const twin = concatBytes(sig.subarray(0, 32), fromHex(hex32(N - s)));
    expect(await ecdsaVerify(publicKey, msg, twin)).toBe(false);
    expect(toHex(ecdsaNormalizeSignature(twin))).toBe(toHex(sig));
  });
});
