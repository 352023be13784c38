import { describe, expect, it } from 'vitest';
import { encodeAdPassword } from './ad-password.ts';

const hex = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');

describe('encodeAdPassword (unicodePwd format)', () => {
  it('wraps the password in double quotes and encodes it as UTF-16LE', () => {
    // The example of Microsoft's unicodePwd documentation.
    expect(hex(encodeAdPassword('newPassword'))).toBe('22 00 6e 00 65 00 77 00 50 00 61 00 73 00 73 00 77 00 6f 00 72 00 64 00 22 00');
  });

  it('returns a Buffer of two bytes per UTF-16 code unit, quotes included', () => {
    const encoded = encodeAdPassword('abc');
    expect(Buffer.isBuffer(encoded)).toBe(true);
    expect(encoded.length).toBe(10);
  });

  it('encodes the empty password as just the two quotes', () => {
    expect(hex(encodeAdPassword(''))).toBe('22 00 22 00');
  });

  it('takes quotes and backslashes inside the password literally (no escaping)', () => {
    expect(hex(encodeAdPassword('a"b\\c'))).toBe('22 00 61 00 22 00 62 00 5c 00 63 00 22 00');
  });

  it('encodes Latin-1 and BMP characters as one little-endian code unit each', () => {
    // é U+00E9, € U+20AC, ß U+00DF
    expect(hex(encodeAdPassword('é€ß'))).toBe('22 00 e9 00 ac 20 df 00 22 00');
  });

  it('encodes characters outside the BMP as their surrogate pair', () => {
    // 😀 U+1F600 = D83D DE00; 𝄞 U+1D11E = D834 DD1E
    expect(hex(encodeAdPassword('😀'))).toBe('22 00 3d d8 00 de 22 00');
    expect(hex(encodeAdPassword('x𝄞'))).toBe('22 00 78 00 34 d8 1e dd 22 00');
  });

  it('does not normalise: a precomposed é and e + combining acute stay different bytes', () => {
    expect(hex(encodeAdPassword('\u00e9'))).toBe('22 00 e9 00 22 00');
    expect(hex(encodeAdPassword('e\u0301'))).toBe('22 00 65 00 01 03 22 00');
  });

  it('round-trips: decoding the bytes gives back the quoted password', () => {
    const password = `P@ss "w0rd" \\ (x)* é 😀`;
    expect(encodeAdPassword(password).toString('utf16le')).toBe(`"${password}"`);
  });
});
