import { afterEach, describe, expect, it, vi } from 'vitest';
import { requireService, underCi } from './services.ts';

describe('requireService', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('hands over the address scripts/test.sh exported', () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('POSTERN_TEST_EXAMPLE', '127.0.0.1:2222');
    expect(requireService('sshd', 'POSTERN_TEST_EXAMPLE')).toBe('127.0.0.1:2222');
  });

  it('outside CI, a missing server means null: its tests skip', () => {
    vi.stubEnv('CI', '');
    vi.stubEnv('POSTERN_TEST_EXAMPLE', '');
    expect(requireService('sshd', 'POSTERN_TEST_EXAMPLE')).toBeNull();
    expect(requireService('Chromium', 'POSTERN_TEST_EXAMPLE', '/usr/bin/chromium')).toBe('/usr/bin/chromium');
  });

  it('under CI, a missing server fails the suite, naming the server and the variable', () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('POSTERN_TEST_EXAMPLE', '');
    expect(() => requireService('sshd', 'POSTERN_TEST_EXAMPLE')).toThrow(/sshd is required under CI but POSTERN_TEST_EXAMPLE is not set/);
  });

  it('reads CI as scripts/test.sh does', () => {
    for (const [value, ci] of [
      ['true', true],
      ['1', true],
      ['false', false],
      ['0', false],
      ['', false],
    ] as const) {
      vi.stubEnv('CI', value);
      expect(underCi()).toBe(ci);
    }
  });
});
