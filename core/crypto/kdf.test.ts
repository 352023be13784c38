import { describe, it, expect, vi } from 'vitest';
import { PosternError } from '../errors.ts';
import { fromHex, randomBytes, toHex, utf8 } from './bytes.ts';
import { hkdfSha256, hmacSha256, hmacSha512, pbkdf2Sha256, pbkdf2Sha256Noble, pbkdf2Sha256WebCrypto, sha256 } from './kdf.ts';

function range(from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from + 1);
  for (let i = 0; i < out.length; i++) out[i] = from + i;
  return out;
}

async function expectRejectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(PosternError);
  await expect(p).rejects.toMatchObject({ code });
}

describe('HKDF-SHA256 (RFC 5869 Appendix A)', () => {
  it('test case 1', () => {
    const okm = hkdfSha256(fromHex('0b'.repeat(22)), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('test case 2 (long inputs)', () => {
    const okm = hkdfSha256(range(0x00, 0x4f), range(0x60, 0xaf), range(0xb0, 0xff), 82);
    expect(toHex(okm)).toBe(
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
        '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
        'cc30c58179ec3e87c14c01d5c1f3434f1d87',
    );
  });

  it('test case 3 (zero-length salt and info), with salt empty or absent', () => {
    const expected = '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8';
    const ikm = fromHex('0b'.repeat(22));
    expect(toHex(hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 42))).toBe(expected);
    expect(toHex(hkdfSha256(ikm, undefined, new Uint8Array(0), 42))).toBe(expected);
  });

  it('rejects impossible output lengths', () => {
    expect(() => hkdfSha256(randomBytes(32), undefined, utf8('x'), 0)).toThrow(PosternError);
    expect(() => hkdfSha256(randomBytes(32), undefined, utf8('x'), 255 * 32 + 1)).toThrow(PosternError);
    expect(hkdfSha256(randomBytes(32), undefined, utf8('x'), 255 * 32).length).toBe(255 * 32);
  });
});

describe('PBKDF2-HMAC-SHA256 (RFC 7914 §11)', () => {
  const v1 = '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc' + '49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783';
  const v2 = '4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56' + 'a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d';

  for (const [name, impl] of [
    ['pbkdf2Sha256', pbkdf2Sha256],
    ['noble', pbkdf2Sha256Noble],
    ['WebCrypto', pbkdf2Sha256WebCrypto],
  ] as const) {
    it(`${name}: P="passwd", S="salt", c=1, dkLen=64`, async () => {
      expect(toHex(await impl(utf8('passwd'), utf8('salt'), 1, 64))).toBe(v1);
    });
    it(`${name}: P="Password", S="NaCl", c=80000, dkLen=64`, async () => {
      expect(toHex(await impl(utf8('Password'), utf8('NaCl'), 80000, 64))).toBe(v2);
    });
  }

  it('WebCrypto and noble agree on random inputs (incl. empty salt, odd lengths)', async () => {
    for (const [pwLen, saltLen, c, len] of [
      [1, 16, 1000, 32],
      [33, 0, 7, 17],
      [100, 64, 2, 100],
      [64, 16, 4096, 33],
    ] as const) {
      const pw = randomBytes(pwLen);
      const salt = randomBytes(saltLen);
      const a = await pbkdf2Sha256Noble(pw, salt, c, len);
      const b = await pbkdf2Sha256WebCrypto(pw, salt, c, len);
      expect(toHex(b)).toBe(toHex(a));
      expect(toHex(await pbkdf2Sha256(pw, salt, c, len))).toBe(toHex(a));
    }
  });

  it('falls back to noble when WebCrypto refuses (as workerd does above 100k iterations)', async () => {
    const spy = vi
      .spyOn(crypto.subtle, 'deriveBits')
      .mockRejectedValue(new DOMException('iteration counts above 100000 are not supported', 'NotSupportedError'));
    try {
      expect(toHex(await pbkdf2Sha256(utf8('passwd'), utf8('salt'), 1, 64))).toBe(v1);
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('rejects iterations < 1 and bad lengths with bad_request', async () => {
    await expectRejectCode(pbkdf2Sha256(utf8('p'), utf8('salt'), 0, 32), 'bad_request');
    await expectRejectCode(pbkdf2Sha256(utf8('p'), utf8('salt'), -5, 32), 'bad_request');
    await expectRejectCode(pbkdf2Sha256(utf8('p'), utf8('salt'), 1.5, 32), 'bad_request');
    await expectRejectCode(pbkdf2Sha256(utf8('p'), utf8('salt'), 1, 0), 'bad_request');
    await expectRejectCode(pbkdf2Sha256Noble(utf8('p'), utf8('salt'), 0, 32), 'bad_request');
  });
});

describe('HMAC (RFC 4231 test case 2: key "Jefe")', () => {
  const key = utf8('Jefe');
  const data = utf8('what do ya want for nothing?');
  it('HMAC-SHA512', () => {
    expect(toHex(hmacSha512(key, data))).toBe(
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554' + '9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    );
  });
  it('HMAC-SHA256', () => {
    expect(toHex(hmacSha256(key, data))).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('SHA-256 (FIPS 180-2 examples)', () => {
  it('"abc" and ""', () => {
    expect(toHex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
