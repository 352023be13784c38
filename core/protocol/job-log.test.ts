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

  it('derives a different key per job and per record', async () => {
    expect(toHex(jobLogKey(recordKey, jobUid))).toBe(toHex(key));
    expect(toHex(jobLogKey(recordKey, newUid()))).not.toBe(toHex(key));
    expect(toHex(jobLogKey(generateAesKey(), jobUid))).not.toBe(toHex(key));
  });

  it('round-trips lines and messages, and shows nothing of them', async () => {
    const line = 'Step 2/4: changing the credential of "root" on db1.internal:22 (ssh, as admin) ✓';
    const sealed = await sealJobLine(key, jobUid, 7, line);
    expect(sealed).not.toContain('db1');
    expect(isSealedJobText(sealed)).toBe(true);
    expect(sealedLineNumber(sealed)).toBe(7);
    expect(await openJobLine(key, jobUid, sealed)).toEqual({ n: 7, line });

    const failure = await sealJobMessage(key, jobUid, 'db1.internal refused "admin"', 'admin_refused');
    expect(failure).toMatch(/^admin_refused: sealed:v1:m:/);
    expect(failure).not.toContain('db1');
    expect(sealedMessageCode(failure)).toBe('admin_refused');
    expect(await openJobMessage(key, jobUid, failure)).toBe('admin_refused: db1.internal refused "admin"');
    const done = await sealJobMessage(key, jobUid, 'Rotated.');
    expect(sealedMessageCode(done)).toBeNull();
    expect(await openJobMessage(key, jobUid, done)).toBe('Rotated.');
    expect(isSealedJobText('queued')).toBe(false);
    expect(sealedLineNumber('controller_down: the gateway is not connected')).toBeNull();
  });

  it('refuses a line moved to another job or renumbered, and a message whose code was changed', async () => {
    const other = newUid();
    const moved = await sealJobLine(jobLogKey(recordKey, other), other, 1, 'elsewhere');
    await expect(openJobLine(key, jobUid, moved)).rejects.toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    const renumbered = (await sealJobLine(key, jobUid, 1, 'first')).replace(/^sealed:v1:1:/, 'sealed:v1:5:');
    await expect(openJobLine(key, jobUid, renumbered)).rejects.toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    const recoded = (await sealJobMessage(key, jobUid, 'refused', 'admin_refused')).replace(/^admin_refused/, 'unreachable');
    await expect(openJobMessage(key, jobUid, recoded)).rejects.toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    const uncoded = (await sealJobMessage(key, jobUid, 'x', 'bad_state')).replace(/^bad_state: /, '');
    await expect(openJobMessage(key, jobUid, uncoded)).rejects.toThrow(expect.objectContaining({ code: 'decrypt_failed' }));
    await expect(sealJobLine(key, jobUid, 0, 'x')).rejects.toThrow(/positive integer/);
  });

  it('fits the longest clipped plaintext (3-byte characters) in the wire limits', async () => {
    expect((await sealJobLine(key, jobUid, 999_999, '€'.repeat(JOB_LINE_MAX))).length).toBeLessThanOrEqual(JOB_LINE_WIRE_MAX);
    expect((await sealJobMessage(key, jobUid, '€'.repeat(JOB_MESSAGE_MAX), 'x'.repeat(64))).length).toBeLessThanOrEqual(JOB_MESSAGE_WIRE_MAX);
  });
});
