import { describe, expect, it } from 'vitest';
import { ComplexityError, DEFAULT_SPECIAL, DIGITS, generatePassword, LOWER, UPPER } from './password.ts';

const count = (s: string, set: string) => [...s].filter((ch) => set.includes(ch)).length;

describe('generatePassword', () => {
  it('defaults to 32 characters with every class present and no quotes, backslash or space', () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toHaveLength(32);
      expect(count(p, UPPER)).toBeGreaterThan(0);
      expect(count(p, LOWER)).toBeGreaterThan(0);
      expect(count(p, DIGITS)).toBeGreaterThan(0);
      expect(count(p, DEFAULT_SPECIAL)).toBeGreaterThan(0);
      expect(p).not.toMatch(/["'`\\ ]/);
    }
  });

  it('honours minimum counts, excluded classes and a custom special set', () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword({ length: 20, upper: 5, lower: 0, digits: 6, special: 2, specialChars: '!?' });
      expect(p).toHaveLength(20);
      expect(count(p, UPPER)).toBeGreaterThanOrEqual(5);
      expect(count(p, LOWER)).toBe(0);
      expect(count(p, DIGITS)).toBeGreaterThanOrEqual(6);
      expect(count(p, '!?')).toBeGreaterThanOrEqual(2);
      expect(p).toMatch(/^[A-Z0-9!?]+$/);
    }
  });

  it('is not biased towards any character (chi-square over 200,000 draws)', () => {
    const alphabet = DIGITS;
    const seen = new Map<string, number>();
    for (let i = 0; i < 2_000; i++) for (const ch of generatePassword({ length: 100, upper: 0, lower: 0, special: 0 })) seen.set(ch, (seen.get(ch) ?? 0) + 1);
    const expected = 200_000 / alphabet.length;
    const chi = [...alphabet].reduce((sum, ch) => sum + ((seen.get(ch) ?? 0) - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: 39.3 is the 0.001 % critical value, so a fair generator fails one run in
    // 100,000; a byte-modulo-10 generator (4 % more 0–5s) scores about 100 here.
    expect(chi).toBeLessThan(39.3);
  });

  it('never repeats across many draws', () => {
    const seen = new Set(Array.from({ length: 5_000 }, () => generatePassword({ length: 16 })));
    expect(seen.size).toBe(5_000);
  });

  it('refuses rules that cannot be met, with a message that says why', () => {
    expect(() => generatePassword({ length: 8, upper: 4, lower: 4, digits: 1 })).toThrow(ComplexityError);
    expect(() => generatePassword({ length: 8, upper: 4, lower: 4, digits: 1 })).toThrow(/at least 10 characters but the length is 8/);
    expect(() => generatePassword({ upper: 0, lower: 0, digits: 0, special: 0 })).toThrow(/no characters/);
  });
});
