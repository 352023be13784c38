/**
 * New passwords from a pamUser's complexity rules (`passwordComplexity`: length, and per class
 * a count). Decisions, written down because targets and users depend on them:
 *
 *  - A class count is a minimum. A count of 0 leaves the class out entirely (for targets that
 *    refuse, say, special characters); an absent count means "allowed, at least one".
 *  - The default special characters leave out quotes, backslash, space and backtick: they are
 *    what breaks connection strings, shells and config files when an administrator pastes a
 *    password somewhere. `specialChars` replaces the set.
 *  - Every character comes from the operating system's CSPRNG, drawn without modulo bias, and the
 *    required characters are shuffled in, so their positions carry no information.
 */
import { randomBytes } from '../../core/crypto/index.ts';
import type { PasswordComplexity } from '../../core/records/record-types.ts';

export const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const DIGITS = '0123456789';
export const DEFAULT_SPECIAL = '!#$%&()*+,-./:;<=>?@[]^_{|}~';
export const DEFAULT_LENGTH = 32;

export class ComplexityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComplexityError';
  }
}

/** A uniform integer in [0, n), by rejection sampling over 32-bit draws. */
function uniform(n: number): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  for (;;) {
    const b = randomBytes(4);
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v < limit) return v % n;
  }
}

export function generatePassword(rules: Partial<PasswordComplexity> = {}): string {
  const length = rules.length ?? DEFAULT_LENGTH;
  const special = rules.specialChars ?? DEFAULT_SPECIAL;
  const classes = [
    { name: 'upper', chars: UPPER, count: rules.upper },
    { name: 'lower', chars: LOWER, count: rules.lower },
    { name: 'digits', chars: DIGITS, count: rules.digits },
    { name: 'special', chars: special, count: rules.special },
  ].filter((c) => c.count !== 0 && c.chars.length > 0);
  if (classes.length === 0) throw new ComplexityError('The complexity rules leave no characters to choose from.');
  const required = classes.map((c) => ({ ...c, min: c.count ?? 1 }));
  const minimum = required.reduce((sum, c) => sum + c.min, 0);
  if (minimum > length) throw new ComplexityError(`The complexity rules need at least ${minimum} characters but the length is ${length}.`);
  const out: string[] = [];
  for (const c of required) for (let i = 0; i < c.min; i++) out.push(c.chars[uniform(c.chars.length)]!);
  const all = required.map((c) => c.chars).join('');
  while (out.length < length) out.push(all[uniform(all.length)]!);
  // Fisher–Yates, so the required characters are not at predictable positions.
  for (let i = out.length - 1; i > 0; i--) {
    const j = uniform(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.join('');
}
