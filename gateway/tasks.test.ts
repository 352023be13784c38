import { describe, expect, it } from 'vitest';
import { jobUpdateSchema, type JobUpdate } from '../core/protocol/gateway-wire.ts';
import { newUid } from '../core/ids.ts';
import { SecretScrubber } from './logging/scrubber.ts';
import { TaskTracker } from './tasks.ts';

const quiet = { info() {}, warn() {}, debug() {} };

function tracker(online = { value: true }) {
  const sent: JobUpdate[] = [];
  const scrubber = new SecretScrubber();
  const t = new TaskTracker({ sink: { sendJob: (u) => (online.value ? (sent.push(u), true) : false) }, scrubber, logger: quiet, keepEnded: 2 });
  return { t, sent, scrubber, online };
}

describe('TaskTracker', () => {
  it('reports start, steps and the end, once', () => {
    const { t, sent } = tracker();
    const jobId = newUid();
    const task = t.start(jobId, 'rotate', null);
    expect(() => t.start(jobId, 'rotate')).toThrow(/already known/);
    task.step('fetching records', 10, ['fetching']);
    task.fail('nope');
    task.finish('too late');
    task.step('too late', 99);
    expect(sent.map((u) => [u.status, u.step, u.progress])).toEqual([
      ['running', 'started', 0],
      ['running', 'fetching records', 10],
      ['failed', 'failed', 10],
    ]);
    expect(sent[2]).toMatchObject({ message: 'nope', log: ['nope'] });
    for (const u of sent) expect(jobUpdateSchema.safeParse(u).success).toBe(true);
    expect(t.get(jobId)).toMatchObject({ status: 'failed', message: 'nope' });
    expect(t.runningCount).toBe(0);
  });

  it('scrubs and clips everything it reports', () => {
    const { t, sent, scrubber } = tracker();
    scrubber.add('hunter2-canary');
    const task = t.start(newUid(), 'rotate');
    task.step('step hunter2-canary', 5, ['log hunter2-canary', 'x'.repeat(10_000)]);
    task.fail(`failed hunter2-canary ${'y'.repeat(5000)}`);
    const text = JSON.stringify(sent);
    expect(text).not.toContain('hunter2-canary');
    for (const u of sent) expect(jobUpdateSchema.safeParse(u).success, JSON.stringify(u).slice(0, 200)).toBe(true);
  });

  it('keeps updates while the link is down and sends them in order when it is back', () => {
    const online = { value: false };
    const { t, sent } = tracker(online);
    const task = t.start(newUid(), 'rotate');
    task.step('a', 10);
    task.finish('ok');
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
    expect(t.cancel(a.jobId)).toBe(true);
    expect(a.signal.aborted).toBe(true);
    expect(() => a.throwIfCancelled()).toThrow(/cancelled/);
    expect(t.cancel(a.jobId)).toBe(false);
    expect(t.cancel(newUid())).toBe(false);
    const b = t.start(newUid(), 'rotate');
    const c = t.start(newUid(), 'rotate');
    t.abortAll('stopping');
    expect([t.get(b.jobId)?.status, t.get(c.jobId)?.status]).toEqual(['failed', 'failed']);
    expect(t.get(a.jobId)).toBeUndefined(); // only the last two ended jobs are kept
    expect(t.all()).toHaveLength(2);
  });
});
