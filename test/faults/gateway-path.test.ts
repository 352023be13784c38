/**
 * The network between a gateway and the Router goes dead (a TCP proxy that stops moving bytes,
 * as a cut link or a dead NAT does, with no reset to tell either side) for longer than the
 * heartbeat: the Router marks the gateway offline and interrupts its running job, an action
 * sent meanwhile is refused with a clear code and never reaches the gateway, and when the path
 * returns the gateway reconnects by itself, reports the job, and nothing ran twice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, pamSetup } from '../schedule/support.ts';
import { startTestRouter } from '../support/router.ts';
import { printFaultTable, recordFault } from './measure.ts';
import { startTcpProxy } from './tcp-proxy.ts';

afterAll(() => printFaultTable());

const HEARTBEAT = { intervalMs: 300, timeoutMs: 1_200 };

async function waitUntil(what: () => Promise<boolean> | boolean, timeoutMs: number, label: string): Promise<number> {
  const started = Date.now();
  while (!(await what())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${label}: not within ${timeoutMs} ms`);
    await sleep(25);
  }
  return Date.now() - started;
}

describe('the path between a gateway and the Router goes dead', () => {
  it('marks the gateway offline and its job interrupted, refuses actions clearly, and takes the gateway back without running anything twice', async () => {
    const router = await startTestRouter({ heartbeat: HEARTBEAT });
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: router.port });
    const pam = await pamSetup(router.url, 'admin@example.com', { gatewayServer: `http://${proxy.host}:${proxy.port}` });
    try {
      const { admin, gateway, rotations } = pam;
      const started = await admin.sendAction({ action: 'rotate', recordUid: pam.user, configurationUid: pam.config });
      expect(started.code).toBe('ok');
      const jobUid = started.jobUid!;
      expect(rotations).toHaveLength(1);

      const cutAt = Date.now();
      proxy.blackhole();
      const offlineMs = await waitUntil(() => router.router.hub.size === 0, 10_000, 'the Router marks the gateway offline');
      expect(offlineMs).toBeLessThanOrEqual(HEARTBEAT.timeoutMs + 2 * HEARTBEAT.intervalMs + 500);
      expect((await admin.getJob(jobUid)).job.status).toBe('interrupted');

      const refused = await admin.sendAction({ action: 'rotate', recordUid: pam.user, configurationUid: pam.config });
      expect(refused.code).toBe('controller_down');
      expect(refused.message).toMatch(/not connected/);

      await sleep(500);
      const restoredAt = Date.now();
      proxy.restore();
      await waitUntil(() => gateway.connections >= 2 && gateway.state === 'online' && router.router.hub.size === 1, 15_000, 'the gateway reconnects');
      const backMs = Date.now() - restoredAt;

      // Nothing ran twice: the refused action never reached the gateway, the first one ran once.
      expect(rotations).toHaveLength(1);
      expect(gateway.sendJob({ jobUid, status: 'finished', progress: 100, step: 'done' })).toBe(true);
      await waitUntil(async () => (await admin.getJob(jobUid)).job.status === 'finished', 5_000, 'the job is reported');

      recordFault({
        fault: `gateway ↔ Router path dead (no reset) for ${restoredAt - cutAt} ms, heartbeat ${HEARTBEAT.intervalMs}/${HEARTBEAT.timeoutMs} ms`,
        firstErrorMs: offlineMs,
        recoveryMs: backMs,
        outcomes: [],
      });
    } finally {
      await pam.gateway.stop();
      await proxy.close();
      await router.stop();
    }
  }, 60_000);
});
