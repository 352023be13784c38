import { describe, expect, it } from 'vitest';
import { ReplayGuard } from './replay-guard.ts';

describe('ReplayGuard', () => {
  it('accepts an id once within its lifetime, again after it', () => {
    const guard = new ReplayGuard(1000);
    expect(guard.accept('a', 0)).toBe(true);
    expect(guard.accept('a', 999)).toBe(false);
    expect(guard.accept('b', 500)).toBe(true);
    expect(guard.accept('a', 1000)).toBe(true);
    expect(guard.size).toBe(2);
  });

  it('refuses new ids when full rather than forgetting live ones', () => {
    const guard = new ReplayGuard(1000, 2);
    expect(guard.accept('a', 0)).toBe(true);
    expect(guard.accept('b', 0)).toBe(true);
    expect(guard.accept('c', 10)).toBe(false);
    expect(guard.accept('a', 10)).toBe(false);
    expect(guard.accept('c', 1001)).toBe(true);
  });
});
