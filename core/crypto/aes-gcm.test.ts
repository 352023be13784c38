import { describe, it, expect } from 'vitest';
import { PosternError } from '../errors.ts';
import { aesGcmDecrypt, aesGcmEncrypt, aesGcmSealWithNonce, AES_GCM_TAG_LENGTH, AES_KEY_LENGTH, generateAesKey, NATIVE_AES_GCM_MIN_BYTES } from './aes-gcm.ts';
import { concatBytes, fromHex, randomBytes, toHex, utf8 } from './bytes.ts';

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

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, test cases 13–16
// (AES-256, 96-bit IV).
const K15 = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const IV15 = 'cafebabefacedbaddecaf888';
const P15 = 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' + '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const C15 = '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' + '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';

const vectors = [
  {
    name: 'test case 13 (empty plaintext)',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '',
    aad: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'test case 14 (one zero block)',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    pt: '00'.repeat(16),
    aad: '',
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'test case 15 (4 blocks, no AAD)',
    key: K15,
    iv: IV15,
    pt: P15,
    aad: '',
    ct: C15,
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    name: 'test case 16 (60 bytes, with AAD)',
    key: K15,
    iv: IV15,
    pt: P15.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: C15.slice(0, 120),
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

describe('AES-256-GCM known answers (GCM spec test cases 13–16)', () => {
  for (const v of vectors) {
    it(v.name, async () => {
      const key = fromHex(v.key);
      const iv = fromHex(v.iv);
      const aad = v.aad ? fromHex(v.aad) : undefined;
      const sealed = await aesGcmSealWithNonce(key, iv, fromHex(v.pt), aad);
      expect(toHex(sealed)).toBe(v.ct + v.tag);

      // the same bytes, in our nonce-prefixed format, decrypt back
      const framed = concatBytes(iv, sealed);
      expect(toHex(await aesGcmDecrypt(key, framed, aad))).toBe(v.pt);

      // any flipped bit (nonce, ciphertext or tag) is an authentication failure
      for (const pos of [0, 11, 12, framed.length - 1]) {
        const tampered = framed.slice();
        tampered[pos]! ^= 0x01;
        await expectCode(() => aesGcmDecrypt(key, tampered, aad), 'decrypt_failed');
      }
      if (aad) {
        await expectCode(() => aesGcmDecrypt(key, framed), 'decrypt_failed');
        const badAad = aad.slice();
        badAad[0]! ^= 0x80;
        await expectCode(() => aesGcmDecrypt(key, framed, badAad), 'decrypt_failed');
      }
    });
  }
});

describe('aesGcmEncrypt / aesGcmDecrypt', () => {
  it('round-trips with and without AAD, including empty plaintext', async () => {
    const key = generateAesKey();
    expect(key.length).toBe(AES_KEY_LENGTH);
    for (const n of [0, 1, 15, 16, 17, 1000]) {
      const pt = randomBytes(n);
      const sealed = await aesGcmEncrypt(key, pt);
      expect(sealed.length).toBe(12 + n + 16);
      expect(await aesGcmDecrypt(key, sealed)).toEqual(pt);
      const aad = utf8('record:42');
      expect(await aesGcmDecrypt(key, await aesGcmEncrypt(key, pt, aad), aad)).toEqual(pt);
    }
  });

  it('round-trips and authenticates on both sides of NATIVE_AES_GCM_MIN_BYTES (noble below, WebCrypto at or above)', async () => {
    const key = generateAesKey();
    const aad = utf8('record:42');
    for (const n of [
      NATIVE_AES_GCM_MIN_BYTES - AES_GCM_TAG_LENGTH - 1,
      NATIVE_AES_GCM_MIN_BYTES - AES_GCM_TAG_LENGTH,
      NATIVE_AES_GCM_MIN_BYTES - 1,
      NATIVE_AES_GCM_MIN_BYTES,
      NATIVE_AES_GCM_MIN_BYTES + 1,
      70_000,
    ]) {
      const pt = randomBytes(n);
      for (const a of [undefined, aad]) {
        const sealed = await aesGcmEncrypt(key, pt, a);
        expect(sealed.length).toBe(12 + n + 16);
        expect(await aesGcmDecrypt(key, sealed, a)).toEqual(pt);
        for (const pos of [0, 12, sealed.length - 1]) {
          const tampered = sealed.slice();
          tampered[pos]! ^= 0x01;
          await expectCode(() => aesGcmDecrypt(key, tampered, a), 'decrypt_failed');
        }
        await expectCode(() => aesGcmDecrypt(key, sealed, a ? undefined : aad), 'decrypt_failed');
        await expectCode(() => aesGcmDecrypt(generateAesKey(), sealed, a), 'decrypt_failed');
      }
    }
  });

  it('uses a fresh nonce each time', async () => {
    const key = generateAesKey();
    const pt = utf8('same message');
    const a = await aesGcmEncrypt(key, pt);
    const b = await aesGcmEncrypt(key, pt);
    expect(toHex(a.subarray(0, 12))).not.toBe(toHex(b.subarray(0, 12)));
    expect(toHex(a)).not.toBe(toHex(b));
  });

  it('fails with decrypt_failed on wrong key, AAD mismatch, truncation', async () => {
    const key = generateAesKey();
    const sealed = await aesGcmEncrypt(key, utf8('secret'), utf8('aad'));
    await expectCode(() => aesGcmDecrypt(generateAesKey(), sealed, utf8('aad')), 'decrypt_failed');
    await expectCode(() => aesGcmDecrypt(key, sealed), 'decrypt_failed');
    await expectCode(() => aesGcmDecrypt(key, sealed, utf8('aaD')), 'decrypt_failed');
    await expectCode(() => aesGcmDecrypt(key, sealed.subarray(0, sealed.length - 1), utf8('aad')), 'decrypt_failed');
    await expectCode(() => aesGcmDecrypt(key, new Uint8Array(27)), 'decrypt_failed');
    await expectCode(() => aesGcmDecrypt(key, new Uint8Array(0)), 'decrypt_failed');
  });

  it('rejects keys and nonces of the wrong length with bad_request', async () => {
    await expectCode(() => aesGcmEncrypt(new Uint8Array(16), utf8('x')), 'bad_request');
    await expectCode(() => aesGcmDecrypt(new Uint8Array(31), new Uint8Array(40)), 'bad_request');
    await expectCode(() => aesGcmSealWithNonce(new Uint8Array(32), new Uint8Array(16), utf8('x')), 'bad_request');
  });

  it('never puts key material in error messages', async () => {
    const key = fromHex('ab'.repeat(32));
    expect.assertions(1);
    try {
      await aesGcmDecrypt(key, new Uint8Array(40));
    } catch (err) {
      expect((err as Error).message).not.toMatch(/abab/i);
    }
  });
});
