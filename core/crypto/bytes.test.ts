import { describe, it, expect } from 'vitest';
import { PosternError } from '../errors.ts';
import { concatBytes, equalBytes, fromBase64, fromBase64Url, fromHex, fromUtf8, randomBytes, toBase64, toBase64Url, toHex, utf8 } from './bytes.ts';

function expectBadRequest(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PosternError);
    expect((err as PosternError).code).toBe('bad_request');
    return;
  }
  throw new Error('expected PosternError(bad_request)');
}

describe('randomBytes', () => {
  it('returns the requested length, including 0 and > 65536 (chunked)', () => {
    expect(randomBytes(0).length).toBe(0);
    expect(randomBytes(32).length).toBe(32);
    const big = randomBytes(200_000);
    expect(big.length).toBe(200_000);
    // the last chunk must be filled too (probability of 1000 zero bytes is negligible)
    expect(big.subarray(199_000).some((b) => b !== 0)).toBe(true);
  });

  it('is not constant', () => {
    expect(equalBytes(randomBytes(32), randomBytes(32))).toBe(false);
  });

  it('serves small requests from a block without repeating or zero-filling, across refills', () => {
    const seen = new Set<string>();
    let zeros = 0;
    for (let n = 0; n < 2000; n++) {
      const b = randomBytes(1 + (n % 64)); // crosses many 4 KiB refills at odd offsets
      if (b.length >= 16) {
        const key = toBase64(b.subarray(0, 16));
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
      zeros += b.filter((x) => x === 0).length;
      b.fill(0xff); // the caller owns its copy: changing it changes nothing later
    }
    // ~64,000 bytes drawn: about 250 zero bytes by chance, never thousands
    expect(zeros).toBeLessThan(600);
  });

  it('rejects bad lengths', () => {
    expectBadRequest(() => randomBytes(-1));
    expectBadRequest(() => randomBytes(1.5));
  });
});

describe('base64 (RFC 4648 §10 vectors)', () => {
  const vectors: Array<[string, string, string]> = [
    ['', '', ''],
    ['f', 'Zg==', 'Zg'],
    ['fo', 'Zm8=', 'Zm8'],
    ['foo', 'Zm9v', 'Zm9v'],
    ['foob', 'Zm9vYg==', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE=', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy', 'Zm9vYmFy'],
  ];
  for (const [plain, b64, b64url] of vectors) {
    it(`"${plain}"`, () => {
      expect(toBase64(utf8(plain))).toBe(b64);
      expect(fromUtf8(fromBase64(b64))).toBe(plain);
      expect(toBase64Url(utf8(plain))).toBe(b64url);
      expect(fromUtf8(fromBase64Url(b64url))).toBe(plain);
    });
  }

  it('uses the right alphabet for 62/63', () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xbf]);
    expect(toBase64(bytes)).toBe('+/+/');
    expect(toBase64Url(bytes)).toBe('-_-_');
    expect(fromBase64('+/+/')).toEqual(bytes);
    expect(fromBase64Url('-_-_')).toEqual(bytes);
  });

  it('round-trips random lengths 0..300', () => {
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(n);
      expect(fromBase64(toBase64(b))).toEqual(b);
      expect(fromBase64Url(toBase64Url(b))).toEqual(b);
    }
  });

  it('agrees with btoa, for every short length and for large inputs (the encoder packs two characters per lookup)', () => {
    for (const n of [...Array.from({ length: 64 }, (_, i) => i), 1000, 1001, 1002, 65_535, 200_001]) {
      const b = randomBytes(n);
      let binary = '';
      for (let i = 0; i < b.length; i += 8192) binary += String.fromCharCode(...b.subarray(i, i + 8192));
      const expected = btoa(binary);
      expect(toBase64(b)).toBe(expected);
      expect(toBase64Url(b)).toBe(expected.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
    }
  });

  it('rejects invalid base64', () => {
    for (const bad of ['Zg', 'Zg=', 'Z===', '====', 'Zm9v!', 'Zm 9v', 'Zm9v\n', 'Zm-_', 'Zg=a', '=Zg=', 'Zh==', 'Zm9=', 'é===']) {
      expectBadRequest(() => fromBase64(bad));
    }
  });

  it('rejects invalid base64url', () => {
    for (const bad of ['Zg==', 'Zm8=', 'Z', 'Zm+v', 'Zm/v', 'Zm 9', 'Zh', 'Zm9', 'Zm\u00e9']) {
      expectBadRequest(() => fromBase64Url(bad));
    }
  });
});

describe('utf8', () => {
  it('round-trips, including a leading BOM and astral characters', () => {
    for (const s of ['', 'hello', 'päss wörd', '\uFEFFbom', '🔐 key']) {
      expect(fromUtf8(utf8(s))).toBe(s);
    }
  });

  it('rejects invalid UTF-8', () => {
    expectBadRequest(() => fromUtf8(new Uint8Array([0xc3, 0x28])));
    expectBadRequest(() => fromUtf8(new Uint8Array([0xff])));
  });
});

describe('hex', () => {
  it('round-trips and accepts either case', () => {
    expect(toHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe('0001abff');
    expect(fromHex('0001ABff')).toEqual(new Uint8Array([0, 1, 0xab, 0xff]));
    expect(fromHex('')).toEqual(new Uint8Array(0));
    const b = randomBytes(100);
    expect(fromHex(toHex(b))).toEqual(b);
  });

  it('rejects odd length and non-hex characters', () => {
    expectBadRequest(() => fromHex('abc'));
    expectBadRequest(() => fromHex('zz'));
    expectBadRequest(() => fromHex('0x00'));
  });
});

describe('concatBytes / equalBytes', () => {
  it('concatenates', () => {
    expect(concatBytes()).toEqual(new Uint8Array(0));
    expect(concatBytes(new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('compares', () => {
    expect(equalBytes(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });
});
