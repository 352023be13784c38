import { describe, expect, it } from 'vitest';
import { generateAesKey, toHex } from '../crypto/index.ts';
import { newUid } from '../ids.ts';
import {
  isSealedJobText,
  JOB_LINE_MAX,
  JOB_LINE_WIRE_MAX,
  JOB_MESSAGE_MAX,
  JOB_MESSAGE_WIRE_MAX,
  jobLogKey,
  openJobLine,
  openJobMessage,
  sealedLineNumber,
  sealedMessageCode,
  sealJobLine,
  sealJobMessage,
} from './job-log.ts';

describe('sealed job logs', () => {
  const recordKey = generateAesKey();
  const jobUid = newUid();
  const key = jobLogKey(recordKey, jobUid);

  it('derives a different key per job and per record', () => {
    expect(toHex(jobLogKey(recordKey, jobUid))).toBe(toHex(key));
    expect(toHex(jobLogKey(recordKey, newUid()))).not.toBe(toHex(key));
    expect(toHex(jobLogKey(generateAesKey(), jobUid))).not.toBe(toHex(key));
  });

  it('round-trips lines and messages, and shows nothing of them', () => {
    const line = 'Step 2/4: changing the credential of "root" on db1.internal:22 (ssh, as admin) ✓';
    const sealed = sealJobLine(key, jobUid, 7, line);
    expect(sealed).not.toContain('db1');
    expect(isSealedJobText(sealed)).toBe(true);
    expect(sealedLineNumber(sealed)).toBe(7);
    expect(openJobLine(key, jobUid, sealed)).toEqual({ n: 7, line });

    const failure = sealJobMessage(key, jobUid, 'db1.internal refused "admin"', 'admin_refused');
    expect(failure).toMatch(/^admin_refused: sealed:v1:m:/);
    expect(failure).not.toContain('db1');
    expect(sealedMessageCode(failure)).toBe('admin_refused');
    expect(openJobMessage(key, jobUid, failure)).toBe('admin_refused: db1.internal refused "admin"');
    const done = sealJobMessage(key, jobUid, 'Rotated.');
    expect(sealedMessageCode(done)).toBeNull();
    expect(openJobMessage(key, jobUid, done)).toBe('Rotated.');
    expect(isSealedJobText('queued')).toBe(false);
    expect(sealedLineNumber('controller_down: the gateway is not connected')).toBeNull();
  });

  it('refuses a line moved to another job or renumbered, and a message whose code was changed', () => {
    const other = newUid();
    const moved = sealJobLine(jobLogKey(recordKey, other), other, 1, 'elsewhere');
    expect(() => openJobLine(key, jobUid, moved)).toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    const renumbered = sealJobLine(key, jobUid, 1, 'first').replace(/^sealed:v1:1:/, 'sealed:v1:5:');
    expect(() => openJobLine(key, jobUid, renumbered)).toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    const recoded = sealJobMessage(key, jobUid, 'refused', 'admin_refused').replace(/^admin_refused/, 'unreachable');
    expect(() => openJobMessage(key, jobUid, recoded)).toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    expect(() => openJobMessage(key, jobUid, sealJobMessage(key, jobUid, 'x', 'bad_state').replace(/^bad_state: /, ''))).toThrow(
      expect.objectContaining({ code: 'decrypt_failed' }),
    );
    expect(() => sealJobLine(key, jobUid, 0, 'x')).toThrow(/positive integer/);
  });

  it('fits the longest clipped plaintext (3-byte characters) in the wire limits', () => {
    expect(sealJobLine(key, jobUid, 999_999, '€'.repeat(JOB_LINE_MAX)).length).toBeLessThanOrEqual(JOB_LINE_WIRE_MAX);
    expect(sealJobMessage(key, jobUid, '€'.repeat(JOB_MESSAGE_MAX), 'x'.repeat(64)).length).toBeLessThanOrEqual(JOB_MESSAGE_WIRE_MAX);
  });
});
