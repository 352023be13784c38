import { describe, expect, it } from 'vitest';
import { jobUpdateSchema, type JobUpdate } from '../core/protocol/gateway-wire.ts';
import { newUid } from '../core/ids.ts';
import { generateAesKey } from '../core/crypto/index.ts';
import { jobLogKey, openJobLine, openJobMessage, sealedMessageCode } from '../core/protocol/job-log.ts';
import { SecretScrubber } from './logging/scrubber.ts';
import { JobTracker } from './jobs.ts';
import { silentLogger } from '../core/logger.ts';

const quiet = silentLogger;

function tracker(online = { value: true }) {
  const sent: JobUpdate[] = [];
  const scrubber = new SecretScrubber();
  const t = new JobTracker({ sink: { sendJob: (u) => (online.value ? (sent.push(u), true) : false) }, scrubber, logger: quiet, keepEnded: 2 });
  return { t, sent, scrubber, online };
}

describe('JobTracker', () => {
  it('reports start, steps and the end, once', async () => {
    const { t, sent } = tracker();
    const jobUid = newUid();
    const task = t.start(jobUid, 'rotate', null);
    expect(() => t.start(jobUid, 'rotate')).toThrow(/already known/);
    task.step('fetching records', 10, ['fetching']);
    task.fail('nope');
    task.finish('too late');
    task.step('too late', 99);
    await t.settled();
    expect(sent.map((u) => [u.status, u.step, u.progress])).toEqual([
      ['running', 'started', 0],
      ['running', 'fetching records', 10],
      ['failed', 'failed', 10],
    ]);
    expect(sent[2]).toMatchObject({ message: 'nope', log: ['nope'] });
    for (const u of sent) expect(jobUpdateSchema.safeParse(u).success).toBe(true);
    expect(t.get(jobUid)).toMatchObject({ status: 'failed', message: 'nope' });
    expect(t.runningCount).toBe(0);
  });

  it('scrubs and clips everything it reports', async () => {
    const { t, sent, scrubber } = tracker();
    scrubber.add('hunter2-canary');
    const task = t.start(newUid(), 'rotate');
    task.step('step hunter2-canary', 5, ['log hunter2-canary', 'x'.repeat(10_000)]);
    task.fail(`failed hunter2-canary ${'y'.repeat(5000)}`);
    await t.settled();
    expect(sent).toHaveLength(3);
    const text = JSON.stringify(sent);
    expect(text).not.toContain('hunter2-canary');
    for (const u of sent) expect(jobUpdateSchema.safeParse(u).success, JSON.stringify(u).slice(0, 200)).toBe(true);
  });

  it('keeps updates while the link is down and sends them in order when it is back', async () => {
    const online = { value: false };
    const { t, sent } = tracker(online);
    const task = t.start(newUid(), 'rotate');
    task.step('a', 10);
    task.finish('ok');
    await t.settled();
    expect(sent).toHaveLength(0);
    expect(t.pendingUpdates).toBe(3);
    online.value = true;
    t.flush();
    expect(sent.map((u) => u.status)).toEqual(['running', 'running', 'finished']);
    expect(t.pendingUpdates).toBe(0);
  });

  it('cancels on request, aborts everything on shutdown, and forgets old ended jobs', () => {
    const { t } = tracker();
    const a = t.start(newUid(), 'rotate');
    expect(t.cancel(a.jobUid)).toBe(true);
    expect(a.signal.aborted).toBe(true);
    expect(() => a.throwIfCancelled()).toThrow(/cancelled/);
    expect(t.cancel(a.jobUid)).toBe(false);
    expect(t.cancel(newUid())).toBe(false);
    const b = t.start(newUid(), 'rotate');
    const c = t.start(newUid(), 'rotate');
    t.abortAll('stopping');
    expect([t.get(b.jobUid)?.status, t.get(c.jobUid)?.status]).toEqual(['failed', 'failed']);
    expect(t.get(a.jobUid)).toBeUndefined(); // only the last two ended jobs are kept
    expect(t.all()).toHaveLength(2);
  });

  it('once it holds the record key, seals every line and the message; steps, progress and the failure code stay readable', async () => {
    const { t, sent } = tracker();
    const recordUid = newUid();
    const recordKey = generateAesKey();
    const task = t.start(newUid(), 'rotate', recordUid);
    task.step('fetching records', 5, [`Fetching pamUser ${recordUid}`]);
    task.sealWith(recordKey);
    task.step('changing it on the target (ssh)', 40, ['Step 2/4: changing the credential of "svc" on db1.internal:22']);
    task.log('[script.sh] db1.internal answered');
    task.fail('db1.internal refused "admin"', [], 'admin_refused');
    await t.settled();
    const key = jobLogKey(recordKey, task.jobUid);
    const wire = JSON.stringify(sent);
    expect(wire).not.toMatch(/db1|svc|admin"/);
    // Before the key: UIDs only, in plaintext.
    expect(sent[0]!.log).toEqual(['rotate started on the gateway']);
    expect(sent[1]!.log).toEqual([`Fetching pamUser ${recordUid}`]);
    expect(sent.map((u) => u.step)).toEqual(['started', 'fetching records', 'changing it on the target (ssh)', 'changing it on the target (ssh)', 'failed']);
    const sealedLines = sent.slice(2).flatMap((u) => u.log ?? []);
    expect(await Promise.all(sealedLines.map((l) => openJobLine(key, task.jobUid, l)))).toEqual([
      { n: 1, line: 'Step 2/4: changing the credential of "svc" on db1.internal:22' },
      { n: 2, line: '[script.sh] db1.internal answered' },
      { n: 3, line: 'admin_refused: db1.internal refused "admin"' },
    ]);
    const last = sent.at(-1)!;
    expect(sealedMessageCode(last.message!)).toBe('admin_refused');
    expect(await openJobMessage(key, task.jobUid, last.message!)).toBe('admin_refused: db1.internal refused "admin"');
    for (const u of sent) expect(jobUpdateSchema.safeParse(u).success).toBe(true);
    // job-info answers with what the Router already has; the gateway's own shell reads plaintext.
    expect(t.get(task.jobUid)).toMatchObject({ status: 'failed', code: 'admin_refused', sealed: true, message: last.message });
    expect(t.all()[0]).toMatchObject({ message: 'admin_refused: db1.internal refused "admin"' });
  });

  it('seals a cancellation too, and refuses a key for a job about no record', async () => {
    const { t, sent } = tracker();
    const recordKey = generateAesKey();
    const task = t.start(newUid(), 'rotate', newUid());
    task.sealWith(recordKey);
    t.cancel(task.jobUid, 'Cancelled by ops@db1.internal.');
    await t.settled();
    expect(JSON.stringify(sent)).not.toContain('db1');
    expect(await openJobMessage(jobLogKey(recordKey, task.jobUid), task.jobUid, sent.at(-1)!.message!)).toBe('Cancelled by ops@db1.internal.');
    expect(() => t.start(newUid(), 'discover').sealWith(recordKey)).toThrow(/about no record/);
  });
});
