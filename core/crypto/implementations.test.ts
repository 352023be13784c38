/**
 * Known answers through every implementation: each operation core/crypto runs natively, in
 * node:crypto (node-crypto.ts) or the platform's WebCrypto (webcrypto.ts), is run on the same
 * inputs through the @noble reference (noble.ts), against published test vectors where there
 * are some, and each is made to open / verify the others' output. Then the parts that sit around
 * them: the key caches (on both native paths) and the fallbacks, to WebCrypto on a runtime
 * without node:crypto and to @noble on one without either.
 */
import { p256 } from '@noble/curves/nist.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PosternError } from '../errors.ts';
import { aesGcmDecrypt, aesGcmEncrypt, AES_GCM_NONCE_LENGTH, NATIVE_AES_GCM_MIN_BYTES } from './aes-gcm.ts';
import { concatBytes, equalBytes, fromHex, randomBytes, toHex, utf8 } from './bytes.ts';
import { ecdsaNormalizeSignature, ecdsaSign, ecdsaVerify, generateP256KeyPair, p256PublicKey } from './ecdsa.ts';
import { eciesDecrypt, eciesEncrypt, p256EcdhSharedX } from './ecies.ts';
import { hkdfSha256 } from './kdf.ts';
import { nobleAesGcmOpen, nobleAesGcmSeal, nobleEcdhSharedX, nobleEcdsaSign, nobleEcdsaVerify } from './noble.ts';
import { hideNodeCrypto, nodeCrypto, type NodeCryptoBackend } from './node-crypto.ts';
import { platformSubtle, webAesGcmOpen, webAesGcmSeal, webEcdhSharedX, webEcdsaSign, webEcdsaVerify } from './webcrypto.ts';

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const HALF_N = N >> 1n;
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const hex32 = (n: bigint): string => n.toString(16).padStart(64, '0');
const sOf = (signature: Uint8Array): bigint => BigInt('0x' + toHex(signature.subarray(32)));
const MiB = 1024 * 1024;

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(PosternError);
  await expect(p).rejects.toMatchObject({ code });
}

afterEach(() => {
  vi.unstubAllGlobals();
  hideNodeCrypto(false);
});

it('runs where node:crypto and WebCrypto both exist (otherwise part of this file tests nothing)', () => {
  expect(platformSubtle()).not.toBeNull();
  expect(nodeCrypto()).not.toBeNull();
});

/** The node:crypto back end, called directly even while hidden from the public functions; the runtime of these tests has one (checked above). */
const nodeBackend = nodeCrypto();
const node = (): NodeCryptoBackend => nodeBackend!;

/** One implementation's AES-GCM, ECDH and ECDSA, asynchronous alike. */
interface Implementation {
  name: string;
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array | undefined): Promise<Uint8Array>;
  open(key: Uint8Array, nonce: Uint8Array, body: Uint8Array, aad: Uint8Array | undefined): Promise<Uint8Array>;
  ecdh(privateKey: Uint8Array, publicKey: Uint8Array, cachePublicKey: boolean): Promise<Uint8Array>;
  /** Raw: the native ones do not normalise S. */
  sign(privateKey: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  /** Raw: the native ones accept a high S. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

const implementations: Implementation[] = [
  {
    name: 'noble',
    seal: async (...a) => nobleAesGcmSeal(...a),
    open: async (...a) => nobleAesGcmOpen(...a),
    ecdh: async (privateKey, publicKey) => nobleEcdhSharedX(privateKey, publicKey),
    sign: async (...a) => nobleEcdsaSign(...a),
    verify: async (...a) => nobleEcdsaVerify(...a),
  },
  { name: 'WebCrypto', seal: webAesGcmSeal, open: webAesGcmOpen, ecdh: webEcdhSharedX, sign: webEcdsaSign, verify: webEcdsaVerify },
  {
    name: 'node:crypto',
    seal: async (...a) => node().aesGcmSeal(...a),
    open: async (...a) => node().aesGcmOpen(...a),
    ecdh: async (...a) => node().ecdhSharedX(...a),
    sign: async (...a) => node().ecdsaSign(...a),
    verify: async (...a) => node().ecdsaVerify(...a),
  },
];
const [noble, web, nodeImpl] = implementations as [Implementation, Implementation, Implementation];
const natives = [web, nodeImpl];

// ------------------------------------------------------------------------------------ AES-GCM

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, test cases 13–16
// (AES-256, 96-bit IV); the same vectors as aes-gcm.test.ts.
const K15 = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const IV15 = 'cafebabefacedbaddecaf888';
const P15 = 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' + '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const C15 = '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' + '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
const gcmVectors = [
  { name: '13 (empty plaintext)', key: '00'.repeat(32), iv: '00'.repeat(12), pt: '', aad: '', out: '530f8afbc74536b9a963b4f1c4cb738b' },
  {
    name: '14 (one zero block)',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '00'.repeat(16),
    aad: '',
    out: 'cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  { name: '15 (4 blocks, no AAD)', key: K15, iv: IV15, pt: P15, aad: '', out: C15 + 'b094dac5d93471bdec1a502270e3cc6c' },
  {
    name: '16 (60 bytes, with AAD)',
    key: K15,
    iv: IV15,
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    out: C15.slice(0, 120) + '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

/** Every implementation refuses `body`. */
async function expectAllRefuse(key: Uint8Array, nonce: Uint8Array, body: Uint8Array, aad: Uint8Array | undefined): Promise<void> {
  for (const impl of implementations) await expect(impl.open(key, nonce, body, aad), impl.name).rejects.toThrow();
}

describe('AES-256-GCM: noble, WebCrypto and node:crypto', () => {
  for (const v of gcmVectors) {
    it(`GCM spec test case ${v.name}: identical ciphertext ‖ tag, each opens the others'`, async () => {
      const key = fromHex(v.key);
      const iv = fromHex(v.iv);
      const pt = fromHex(v.pt);
      const aad = v.aad ? fromHex(v.aad) : undefined;
      const sealed = [];
      for (const impl of implementations) {
        const out = await impl.seal(key, iv, pt, aad);
        expect(toHex(out), impl.name).toBe(v.out);
        sealed.push(out);
      }
      for (const impl of implementations) for (const out of sealed) expect(toHex(await impl.open(key, iv, out, aad)), impl.name).toBe(v.pt);
      const byNoble = sealed[0]!;
      for (const pos of [0, byNoble.length - 1]) {
        const bad = byNoble.slice();
        bad[pos]! ^= 0x01;
        await expectAllRefuse(key, iv, bad, aad);
      }
      if (aad) await expectAllRefuse(key, iv, byNoble, undefined);
      await expectAllRefuse(key, iv, byNoble.subarray(0, 15), aad);
    });
  }

  for (const n of [0, 1, NATIVE_AES_GCM_MIN_BYTES - 1, NATIVE_AES_GCM_MIN_BYTES, 4096, MiB]) {
    it(`${n} random bytes, with and without AAD: identical output, cross-opening, a flipped bit refused`, async () => {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const pt = randomBytes(n);
      for (const aad of [undefined, randomBytes(1 + (n % 50))]) {
        const byNoble = nobleAesGcmSeal(key, nonce, pt, aad);
        expect(byNoble.length).toBe(n + 16);
        for (const impl of natives) {
          const byNative = await impl.seal(key, nonce, pt, aad);
          expect(equalBytes(byNoble, byNative), impl.name).toBe(true);
          expect(equalBytes(await noble.open(key, nonce, byNative, aad), pt)).toBe(true);
          expect(equalBytes(await impl.open(key, nonce, byNoble, aad), pt), impl.name).toBe(true);
        }

        const bad = byNoble.slice();
        bad[Math.floor(Math.random() * bad.length)]! ^= 1 << Math.floor(Math.random() * 8);
        await expectAllRefuse(key, nonce, bad, aad);
        const badNonce = nonce.slice();
        badNonce[5]! ^= 0x10;
        await expectAllRefuse(key, badNonce, byNoble, aad);

        // and the public API opens it, whichever implementation runs
        const framed = concatBytes(nonce, byNoble);
        expect(equalBytes(await aesGcmDecrypt(key, framed, aad), pt)).toBe(true);
        const tampered = concatBytes(nonce, bad);
        await expectCode(aesGcmDecrypt(key, tampered, aad), 'decrypt_failed');
      }
    });
  }

  it('node:crypto returns plain Uint8Arrays of their own, not pooled Buffers', async () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const sealed = node().aesGcmSeal(key, nonce, utf8('short'), undefined);
    const opened = node().aesGcmOpen(key, nonce, sealed, undefined);
    for (const out of [sealed, opened, node().ecdsaSign(fromHex(I_PRIV), utf8('m')), node().ecdhSharedX(fromHex(I_PRIV), fromHex(R_PUB), false)]) {
      expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(out.length);
    }
  });
});

// --------------------------------------------------------------------------------------- ECDH

// RFC 5903 §8.1 (256-bit random ECP group): initiator i, responder r, and the shared x.
const I_PRIV = 'c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433';
const I_PUB = '04' + 'dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180' + '5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3';
const R_PRIV = 'c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53';
const R_PUB = '04' + 'd12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63' + '56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab';
const SHARED_X = 'd6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de';

describe('P-256 ECDH: noble, WebCrypto and node:crypto', () => {
  it('RFC 5903 §8.1: each gives the published shared x, from either side', async () => {
    const i = fromHex(I_PRIV);
    const r = fromHex(R_PRIV);
    expect(toHex(p256PublicKey(i))).toBe(I_PUB);
    expect(toHex(p256PublicKey(r))).toBe(R_PUB);
    for (const impl of implementations) {
      expect(toHex(await impl.ecdh(i, fromHex(R_PUB), true)), impl.name).toBe(SHARED_X);
      expect(toHex(await impl.ecdh(r, fromHex(I_PUB), false)), impl.name).toBe(SHARED_X);
    }
    expect(toHex(await p256EcdhSharedX(i, fromHex(R_PUB)))).toBe(SHARED_X);
  });

  it('random key pairs: all implementations agree, from either side', async () => {
    for (let n = 0; n < 16; n++) {
      const a = generateP256KeyPair();
      const b = generateP256KeyPair();
      const expected = toHex(nobleEcdhSharedX(a.privateKey, b.publicKey));
      for (const impl of implementations) {
        expect(toHex(await impl.ecdh(b.privateKey, a.publicKey, n % 2 === 0)), impl.name).toBe(expected);
        expect(toHex(await impl.ecdh(a.privateKey, b.publicKey, n % 2 === 1)), impl.name).toBe(expected);
      }
    }
  });

  it('node:crypto derives the same public key as noble', () => {
    for (let n = 0; n < 16; n++) {
      const { privateKey } = generateP256KeyPair();
      expect(toHex(node().publicKeyOf(privateKey))).toBe(toHex(p256.getPublicKey(privateKey, false)));
    }
  });

  it("node:crypto's ephemeral agreement: a fresh point each time, the recipient derives the same x", () => {
    const recipient = generateP256KeyPair();
    const seen = new Set<string>();
    for (let n = 0; n < 8; n++) {
      const { publicKey, sharedX } = node().ephemeralEcdh(recipient.publicKey);
      expect(publicKey.length).toBe(65);
      expect(publicKey[0]).toBe(0x04);
      seen.add(toHex(publicKey));
      expect(toHex(sharedX)).toBe(toHex(nobleEcdhSharedX(recipient.privateKey, publicKey)));
    }
    expect(seen.size).toBe(8);
  });
});

// -------------------------------------------------------------------------------------- ECDSA

// RFC 6979 Appendix A.2.5 (ECDSA, 256 bits, prime field), key pair and SHA-256 signatures.
const RFC_X = 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721';
const RFC_PUB = '04' + '60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6' + '7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299';
const SAMPLE_R = 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716';
const SAMPLE_S = 'f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8'; // high S
const TEST_R = 'f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367';
const TEST_S = '019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083'; // low S

describe('ECDSA P-256/SHA-256: noble, WebCrypto and node:crypto', () => {
  const priv = fromHex(RFC_X);
  const pub = fromHex(RFC_PUB);

  it('RFC 6979 A.2.5: nobleEcdsaSign gives the exact r and (low) s; every implementation verifies them', async () => {
    expect(toHex(nobleEcdsaSign(priv, utf8('sample')))).toBe(SAMPLE_R + hex32(N - BigInt('0x' + SAMPLE_S)));
    expect(toHex(nobleEcdsaSign(priv, utf8('test')))).toBe(TEST_R + TEST_S);
    for (const impl of implementations) {
      expect(await impl.verify(pub, utf8('test'), fromHex(TEST_R + TEST_S)), impl.name).toBe(true);
      expect(await impl.verify(pub, utf8('sample'), nobleEcdsaSign(priv, utf8('sample'))), impl.name).toBe(true);
    }
  });

  for (const signer of natives) {
    it(`${signer.name} signatures verify under every implementation (noble once normalised), and noble's under ${signer.name}`, async () => {
      for (const message of ['sample', 'test']) {
        const msg = utf8(message);
        const raw = await signer.sign(priv, msg);
        expect(raw.length).toBe(64);
        const normalised = ecdsaNormalizeSignature(raw);
        expect(sOf(normalised) <= HALF_N).toBe(true);
        for (const impl of natives) {
          expect(await impl.verify(pub, msg, raw), impl.name).toBe(true);
          expect(await impl.verify(pub, msg, normalised), impl.name).toBe(true);
        }
        expect(nobleEcdsaVerify(pub, msg, normalised)).toBe(true);

        const byNoble = nobleEcdsaSign(priv, msg);
        expect(await signer.verify(pub, msg, byNoble)).toBe(true);

        // all reject a modified message
        const other = utf8(message + '.');
        for (const sig of [normalised, byNoble]) for (const impl of implementations) expect(await impl.verify(pub, other, sig), impl.name).toBe(false);
      }
    });

    it(`${signer.name} uses a random k and does not normalise S (why ecdsaSign maps S itself)`, async () => {
      const { privateKey } = generateP256KeyPair();
      const msg = utf8('same message');
      let high = 0;
      const seen = new Set<string>();
      for (let n = 0; n < 64; n++) {
        const raw = await signer.sign(privateKey, msg);
        seen.add(toHex(raw));
        if (sOf(raw) > HALF_N) high++;
      }
      expect(seen.size).toBe(64);
      expect(high).toBeGreaterThan(0); // fails with probability 2^-64
    });
  }

  it('ecdsaSign always gives a low S that every implementation verifies', async () => {
    const { privateKey, publicKey } = generateP256KeyPair();
    const msg = utf8('same message');
    for (let n = 0; n < 64; n++) {
      const sig = await ecdsaSign(privateKey, msg);
      expect(sig.length).toBe(64);
      expect(sOf(sig) <= HALF_N).toBe(true);
      expect(nobleEcdsaVerify(publicKey, msg, sig)).toBe(true);
      expect(await ecdsaVerify(publicKey, msg, sig)).toBe(true);
    }
  });

  it('high S: noble refuses, both native implementations accept, so the public ecdsaVerify refuses it itself', async () => {
    const rfcHighS = fromHex(SAMPLE_R + SAMPLE_S);
    expect(nobleEcdsaVerify(pub, utf8('sample'), rfcHighS)).toBe(false);
    for (const impl of natives) expect(await impl.verify(pub, utf8('sample'), rfcHighS), impl.name).toBe(true);
    expect(await ecdsaVerify(pub, utf8('sample'), rfcHighS)).toBe(false);
    expect(await ecdsaVerify(pub, utf8('sample'), ecdsaNormalizeSignature(rfcHighS))).toBe(true);
  });
});

// -------------------------------------------------------------------------------------- ECIES

const ECIES_PREFIX = utf8('postern/ecies/v1');

/** The ecies.ts construction, re-derived with noble only: open E ‖ nonce ‖ ct ‖ tag. */
function nobleEciesOpen(recipientPrivate: Uint8Array, sealed: Uint8Array, info: Uint8Array | undefined): Uint8Array {
  const E = sealed.subarray(0, 65);
  const R = p256PublicKey(recipientPrivate);
  const z = nobleEcdhSharedX(recipientPrivate, E);
  const k = hkdfSha256(z, concatBytes(E, R), concatBytes(ECIES_PREFIX, info ?? new Uint8Array(0)), 32);
  return nobleAesGcmOpen(k, sealed.subarray(65, 65 + AES_GCM_NONCE_LENGTH), sealed.subarray(65 + AES_GCM_NONCE_LENGTH), undefined);
}

/** The same construction by hand with noble, ephemeral key from generateP256KeyPair. */
function nobleEciesSeal(recipientPublic: Uint8Array, plaintext: Uint8Array, info: Uint8Array | undefined): Uint8Array {
  const e = generateP256KeyPair();
  const z = nobleEcdhSharedX(e.privateKey, recipientPublic);
  const k = hkdfSha256(z, concatBytes(e.publicKey, recipientPublic), concatBytes(ECIES_PREFIX, info ?? new Uint8Array(0)), 32);
  const nonce = randomBytes(AES_GCM_NONCE_LENGTH);
  return concatBytes(e.publicKey, nonce, nobleAesGcmSeal(k, nonce, plaintext, undefined));
}

/** The public functions run on node:crypto, or with it hidden on WebCrypto (as in a browser). */
const nativePaths: Array<[string, boolean]> = [
  ['node:crypto', false],
  ['WebCrypto', true],
];

for (const [path, hideNode] of nativePaths) {
  describe(`ECIES on ${path}: the public functions and a noble-only re-derivation`, () => {
    const recipient = generateP256KeyPair();
    beforeEach(() => hideNodeCrypto(hideNode));

    for (const n of [0, 100, 2000]) {
      it(`${n} bytes: eciesEncrypt output opens with noble alone, and a noble-built one with eciesDecrypt`, async () => {
        const pt = randomBytes(n);
        for (const info of [undefined, utf8('record-key/abc')]) {
          const sealed = await eciesEncrypt(recipient.publicKey, pt, info);
          expect(equalBytes(nobleEciesOpen(recipient.privateKey, sealed, info), pt)).toBe(true);

          const byHand = nobleEciesSeal(recipient.publicKey, pt, info);
          expect(equalBytes(await eciesDecrypt(recipient.privateKey, byHand, info), pt)).toBe(true);
          await expectCode(eciesDecrypt(recipient.privateKey, byHand, utf8('other')), 'decrypt_failed');
        }
      });
    }
  });
}

// --------------------------------------------------------------------------------- key caches

/** 65-byte uncompressed encodings of points that are not on the curve. */
const valid = generateP256KeyPair();
const yPlusOne = valid.publicKey.slice();
yPlusOne.set(fromHex(hex32((BigInt('0x' + toHex(valid.publicKey.subarray(33))) + 1n) % P)), 33);
const invalid: Array<[string, Uint8Array]> = [
  ['0x04 followed by 64 zero bytes', concatBytes(new Uint8Array([0x04]), new Uint8Array(64))],
  ['a valid point with y + 1', yPlusOne],
];

for (const [path, hideNode] of nativePaths)
  describe(`${path} key caches`, () => {
    beforeEach(() => hideNodeCrypto(hideNode));

    it('signing twice with the same private-key array works; overwriting it in place signs with the new key', async () => {
      const a = generateP256KeyPair();
      const b = generateP256KeyPair();
      const key = a.privateKey.slice();
      const msg = utf8('cached');
      for (let n = 0; n < 2; n++) {
        const sig = await ecdsaSign(key, msg);
        expect(await ecdsaVerify(a.publicKey, msg, sig)).toBe(true);
      }
      key.set(b.privateKey); // same array, new key
      const sig = await ecdsaSign(key, msg);
      expect(await ecdsaVerify(b.publicKey, msg, sig)).toBe(true);
      expect(await ecdsaVerify(a.publicKey, msg, sig)).toBe(false);
      expect(nobleEcdsaVerify(b.publicKey, msg, sig)).toBe(true);
    });

    it('the same for ECIES decryption and ECDH (private key and its public half re-derived)', async () => {
      const a = generateP256KeyPair();
      const b = generateP256KeyPair();
      const peer = generateP256KeyPair();
      const key = a.privateKey.slice();
      expect(await eciesDecrypt(key, await eciesEncrypt(a.publicKey, utf8('to a')))).toEqual(utf8('to a'));
      expect(toHex(await p256EcdhSharedX(key, peer.publicKey))).toBe(toHex(nobleEcdhSharedX(a.privateKey, peer.publicKey)));
      key.set(b.privateKey);
      expect(await eciesDecrypt(key, await eciesEncrypt(b.publicKey, utf8('to b')))).toEqual(utf8('to b'));
      await expectCode(eciesDecrypt(key, await eciesEncrypt(a.publicKey, utf8('to a'))), 'decrypt_failed');
      expect(toHex(await p256EcdhSharedX(key, peer.publicKey))).toBe(toHex(nobleEcdhSharedX(b.privateKey, peer.publicKey)));
    });

    for (const [name, bad] of invalid) {
      it(`invalid 65-byte public key (${name}): verify is false, encrypt is bad_request, and valid keys still work after`, async () => {
        const msg = utf8('m');
        const sig = await ecdsaSign(valid.privateKey, msg);
        for (let n = 0; n < 2; n++) {
          // twice: a failed import must not be cached as anything else
          expect(await ecdsaVerify(bad, msg, sig)).toBe(false);
          for (const impl of natives) {
            expect(await impl.verify(bad, msg, sig), impl.name).toBe(false);
            await expectCode(impl.ecdh(valid.privateKey, bad, true), 'bad_request');
            await expectCode(impl.ecdh(valid.privateKey, bad, false), 'bad_request');
          }
          expect(() => node().ephemeralEcdh(bad)).toThrow(PosternError);
          await expectCode(eciesEncrypt(bad, utf8('x')), 'bad_request');
          await expectCode(p256EcdhSharedX(valid.privateKey, bad), 'bad_request');
        }
        expect(await ecdsaVerify(valid.publicKey, msg, sig)).toBe(true);
        expect(await eciesDecrypt(valid.privateKey, await eciesEncrypt(valid.publicKey, utf8('x')))).toEqual(utf8('x'));

        // a bad point as the ephemeral key of a ciphertext is bad_request too
        const sealed = await eciesEncrypt(valid.publicKey, utf8('x'));
        await expectCode(eciesDecrypt(valid.privateKey, concatBytes(bad, sealed.subarray(65))), 'bad_request');
        expect(await eciesDecrypt(valid.privateKey, sealed)).toEqual(utf8('x'));
      });
    }

    // OpenSSL's raw import (Node's WebCrypto) accepts the SEC1 "hybrid" encoding (0x06/0x07 ‖ X ‖
    // Y, prefix carrying y's parity), a second encoding of the same key that @noble (and
    // p256UncompressedPublicKey) refuses; ecdsaVerify hands the native paths 0x04 keys only.
    it('ecdsaVerify refuses a hybrid-encoded (0x06/0x07) public key', async () => {
      const { privateKey, publicKey } = generateP256KeyPair();
      const msg = utf8('m');
      const sig = await ecdsaSign(privateKey, msg);
      const hybrid = publicKey.slice();
      hybrid[0] = (publicKey[64]! & 1) === 1 ? 0x07 : 0x06;
      expect(nobleEcdsaVerify(publicKey, msg, sig)).toBe(true);
      expect(nobleEcdsaVerify(hybrid, msg, sig)).toBe(false);
      expect(await ecdsaVerify(hybrid, msg, sig)).toBe(false);
    });
  });

// ----------------------------------------------------------------------------------- fallback

describe('fallback to WebCrypto when the runtime has no node:crypto (a browser, workerd)', () => {
  it('ECDSA, ECIES and AES-GCM round-trip and interoperate with node:crypto-made outputs, both ways', async () => {
    const { privateKey, publicKey } = generateP256KeyPair();
    const aesKey = randomBytes(32);
    const msg = utf8('fallback');
    const small = utf8('ecies plaintext');
    const made = async () => ({
      sig: await ecdsaSign(privateKey, msg),
      ecies: await eciesEncrypt(publicKey, small),
      aesSmall: await aesGcmEncrypt(aesKey, small),
      aesBig: await aesGcmEncrypt(aesKey, randomBytes(4096)),
    });
    const opens = async (m: Awaited<ReturnType<typeof made>>) => {
      expect(await ecdsaVerify(publicKey, msg, m.sig)).toBe(true);
      expect(await eciesDecrypt(privateKey, m.ecies)).toEqual(small);
      expect(await aesGcmDecrypt(aesKey, m.aesSmall)).toEqual(small);
      expect((await aesGcmDecrypt(aesKey, m.aesBig)).length).toBe(4096);
    };
    const byNode = await made();
    hideNodeCrypto(true);
    expect(nodeCrypto()).toBeNull();
    await opens(byNode);
    const byWeb = await made();
    await opens(byWeb);
    hideNodeCrypto(false);
    expect(nodeCrypto()).not.toBeNull();
    await opens(byWeb);
  });
});

describe('fallback to noble when the runtime has neither node:crypto nor WebCrypto', () => {
  /** globalThis.crypto without `subtle`; randomBytes (bytes.ts) and noble only need getRandomValues. */
  const withoutWebCrypto = () => {
    hideNodeCrypto(true);
    vi.stubGlobal('crypto', { getRandomValues: crypto.getRandomValues.bind(crypto) });
  };

  it('the stub really hides WebCrypto and keeps randomness working', () => {
    withoutWebCrypto();
    expect(platformSubtle()).toBeNull();
    expect(globalThis.crypto.subtle).toBeUndefined();
    expect(randomBytes(70_000).length).toBe(70_000);
    expect(generateP256KeyPair().privateKey.length).toBe(32);
    vi.unstubAllGlobals();
    hideNodeCrypto(false);
    expect(platformSubtle()).not.toBeNull();
  });

  it('ECDSA, ECIES and AES-GCM (1 MiB) round-trip and interoperate with natively made outputs', async () => {
    const { privateKey, publicKey } = generateP256KeyPair();
    const aesKey = randomBytes(32);
    const msg = utf8('fallback');
    const small = utf8('ecies plaintext');
    const big = randomBytes(MiB);
    const aad = utf8('file/1');

    // made natively
    const sigWeb = await ecdsaSign(privateKey, msg);
    const eciesWeb = await eciesEncrypt(publicKey, small, aad);
    const eciesWebBig = await eciesEncrypt(publicKey, big.subarray(0, 4096));
    const aesWeb = await aesGcmEncrypt(aesKey, big, aad);

    withoutWebCrypto();
    let sigNoble: Uint8Array, eciesNoble: Uint8Array, aesNoble: Uint8Array;
    try {
      expect(platformSubtle()).toBeNull();
      // opens / verifies what was made natively
      expect(await ecdsaVerify(publicKey, msg, sigWeb)).toBe(true);
      expect(await eciesDecrypt(privateKey, eciesWeb, aad)).toEqual(small);
      expect(equalBytes(await eciesDecrypt(privateKey, eciesWebBig), big.subarray(0, 4096))).toBe(true);
      expect(equalBytes(await aesGcmDecrypt(aesKey, aesWeb, aad), big)).toBe(true);

      // makes its own, deterministic signatures included
      sigNoble = await ecdsaSign(privateKey, msg);
      expect(toHex(sigNoble)).toBe(toHex(nobleEcdsaSign(privateKey, msg)));
      expect(toHex(await ecdsaSign(fromHex(RFC_X), utf8('test')))).toBe(TEST_R + TEST_S);
      expect(await ecdsaVerify(publicKey, msg, sigNoble)).toBe(true);
      eciesNoble = await eciesEncrypt(publicKey, small, aad);
      expect(await eciesDecrypt(privateKey, eciesNoble, aad)).toEqual(small);
      aesNoble = await aesGcmEncrypt(aesKey, big, aad);
      expect(equalBytes(await aesGcmDecrypt(aesKey, aesNoble, aad), big)).toBe(true);
      expect(toHex(await p256EcdhSharedX(fromHex(I_PRIV), fromHex(R_PUB)))).toBe(SHARED_X);

      // same refusals, same codes
      expect(await ecdsaVerify(publicKey, utf8('other'), sigNoble)).toBe(false);
      expect(await ecdsaVerify(fromHex(RFC_PUB), utf8('sample'), fromHex(SAMPLE_R + SAMPLE_S))).toBe(false);
      const tampered = aesNoble.slice();
      tampered[tampered.length - 1]! ^= 1;
      await expectCode(aesGcmDecrypt(aesKey, tampered, aad), 'decrypt_failed');
      await expectCode(eciesDecrypt(privateKey, eciesNoble), 'decrypt_failed');
      for (const [, bad] of invalid) {
        expect(await ecdsaVerify(bad, msg, sigNoble)).toBe(false);
        await expectCode(eciesEncrypt(bad, small), 'bad_request');
        await expectCode(eciesDecrypt(privateKey, concatBytes(bad, eciesNoble.subarray(65))), 'bad_request');
      }
    } finally {
      vi.unstubAllGlobals();
      hideNodeCrypto(false);
    }

    // and the native paths, back, take what the fallback made
    expect(platformSubtle()).not.toBeNull();
    expect(nodeCrypto()).not.toBeNull();
    expect(await ecdsaVerify(publicKey, msg, sigNoble)).toBe(true);
    expect(await eciesDecrypt(privateKey, eciesNoble, aad)).toEqual(small);
    expect(equalBytes(await aesGcmDecrypt(aesKey, aesNoble, aad), big)).toBe(true);
  });
});
