import { describe, expect, it } from 'vitest';
import { generateAesKey } from '../crypto/index.ts';
import { newUid } from '../ids.ts';
import { jobLogKey, sealJobLine, sealJobMessage } from '../protocol/job-log.ts';
import type { JobEntry } from '../protocol/vault-api.ts';
import { JobLogReader } from './job-log.ts';

const recordUid = newUid();
const jobUid = newUid();
const recordKey = generateAesKey();
const key = jobLogKey(recordKey, jobUid);

function entry(message: string | null): JobEntry {
  return {
    jobUid,
    gatewayUid: newUid(),
    action: 'rotate',
    recordUid,
    status: 'failed',
    progress: 40,
    step: 'failed',
    message,
    createdBy: 'a@example.com',
    createdAt: 1,
    updatedAt: 2,
  };
}

const line = (seq: number, text: string) => ({ seq, at: seq, line: text });

describe('JobLogReader', () => {
  it('opens sealed lines and the message with the record key, and leaves plaintext as it is', async () => {
    let asked = 0;
    const reader = new JobLogReader({ recordKeyOf: async () => (asked++, recordKey) }, jobUid, recordUid);
    const opened = await reader.lines([
      line(1, 'queued'),
      line(2, await sealJobLine(key, jobUid, 1, 'on db1:22')),
      line(3, await sealJobLine(key, jobUid, 2, 'as admin')),
    ]);
    expect(opened.map((l) => [l.line, l.sealed])).toEqual([
      ['queued', false],
      ['on db1:22', true],
      ['as admin', true],
    ]);
    expect((await reader.job(entry(await sealJobMessage(key, jobUid, 'db1 refused admin', 'admin_refused')))).message).toBe('admin_refused: db1 refused admin');
    expect((await reader.job(entry('controller_down: the gateway is not connected'))).message).toBe('controller_down: the gateway is not connected');
    expect(asked).toBe(1);
  });

  it('says what it cannot open: no key, a line moved from another job, a line out of order', async () => {
    // threat model (docs/threat-model.md): editor — the job is visible, the record is not
    const blind = new JobLogReader({ recordKeyOf: async () => null }, jobUid, recordUid);
    expect((await blind.lines([line(1, await sealJobLine(key, jobUid, 1, 'on db1:22'))]))[0]).toMatchObject({
      sealed: true,
      line: `(sealed: you cannot read record ${recordUid})`,
    });
    expect((await blind.job(entry(await sealJobMessage(key, jobUid, 'db1 refused', 'admin_refused')))).message).toBe(
      `admin_refused: (sealed: you cannot read record ${recordUid})`,
    );

    // threat model (docs/threat-model.md): database-only attacker — moving and reordering lines
    const reader = new JobLogReader({ recordKeyOf: async () => recordKey }, jobUid, recordUid);
    const other = newUid();
    const moved = await sealJobLine(jobLogKey(recordKey, other), other, 1, 'from another job');
    const lines = await reader.lines([
      line(1, await sealJobLine(key, jobUid, 2, 'second')),
      line(2, await sealJobLine(key, jobUid, 1, 'first')),
      line(3, moved),
    ]);
    expect(lines.map((l) => l.line)).toEqual([
      'second',
      '(sealed line 1 came after line 2: the Router reordered or repeated it; not shown)',
      '(sealed line 1 does not open: it was altered, or moved from another job)',
    ]);
  });
});
