import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from './bytes.ts';
import { hmacSha256 } from './kdf.ts';
import { crc32, hmacSha1, md5 } from './stun.ts';
import * as crypto from './index.ts';

describe('HMAC-SHA1 (RFC 2202 §3)', () => {
  const aa80 = fromHex('aa'.repeat(80));
  const cases: [string, Uint8Array, Uint8Array, string][] = [
    ['1', fromHex('0b'.repeat(20)), utf8('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
    ['2', utf8('Jefe'), utf8('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    ['3', fromHex('aa'.repeat(20)), fromHex('dd'.repeat(50)), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    ['4', fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'), fromHex('cd'.repeat(50)), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
    ['5', fromHex('0c'.repeat(20)), utf8('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
    ['6', aa80, utf8('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
    ['7', aa80, utf8('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
  ];
  for (const [name, key, data, mac] of cases) {
    it(`test case ${name}`, () => {
      expect(toHex(hmacSha1(key, data))).toBe(mac);
    });
  }
});

describe('HMAC-SHA256 (RFC 4231 §4.2–4.3), as MESSAGE-INTEGRITY-SHA256 uses it', () => {
  it('test case 1', () => {
    expect(toHex(hmacSha256(fromHex('0b'.repeat(20)), utf8('Hi There')))).toBe('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  });
  it('test case 2', () => {
    expect(toHex(hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?')))).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('MD5 (RFC 1321 §A.5)', () => {
  it('hashes "" and "abc"', () => {
    expect(toHex(md5(new Uint8Array(0)))).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(toHex(md5(utf8('abc')))).toBe('900150983cd24fb0d6963f7d28e17f72');
  });
});

describe('CRC-32 (IEEE 802.3)', () => {
  it('has the catalogue check value for "123456789"', () => {
    expect(crc32(utf8('123456789'))).toBe(0xcbf43926);
  });

  it('is 0 for no input and unsigned for every input', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(fromHex('ff'.repeat(4)))).toBe(0xffffffff);
    expect(crc32(utf8('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('does not alias its input', () => {
    const data = utf8('123456789');
    crc32(data);
    expect(toHex(data)).toBe(toHex(utf8('123456789')));
  });
});

describe('core/crypto index', () => {
  it('exports the STUN primitives next to the others', () => {
    expect(crypto.hmacSha1).toBe(hmacSha1);
    expect(crypto.md5).toBe(md5);
    expect(crypto.crc32).toBe(crc32);
  });
});
