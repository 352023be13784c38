/**
 * The Router killed (SIGKILL: no cleanup at all) in the middle of writes under load, then
 * started again on the same data: on SQLite (WAL) and on PostgreSQL, every write the Router
 * acknowledged is there, no record is half-written (each revision opens to exactly the data
 * sent for it), the job that was running is `interrupted` until its gateway reports it, and the
 * gateway is back by itself.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { newRecordData } from '../../core/records/index.ts';
import { removeDir, tempDir } from '../cli/support.ts';
import { freshPostgresDatabase, startRouterProcess, stopProcess, type RouterProcess } from '../cluster/support.ts';
import { pamSetup, sleep } from '../schedule/support.ts';
import { requireService } from '../support/services.ts';
import { printFaultTable, recordFault } from './measure.ts';

const TEST_DATABASE = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');
const backends = TEST_DATABASE ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

afterAll(() => printFaultTable());

describe.each(backends)('the Router killed with SIGKILL during writes (%s)', (backend) => {
  it('keeps every acknowledged write whole, interrupts the running job, and gets its gateway back', async () => {
    const root = tempDir('postern-fault-kill-');
    const fresh = backend === 'postgres' ? await freshPostgresDatabase(TEST_DATABASE!) : null;
    const args = ['--data', join(root, 'data'), ...(fresh ? ['--database', fresh.url] : [])];
    let router: RouterProcess | undefined = await startRouterProcess([...args, '--port', '0'], join(root, 'home'));
    const port = new URL(router.info.url).port;
    const pam = await pamSetup(router.info.url);
    try {
      const { admin, gateway } = pam;
      // A job the gateway accepted and is still running (this gateway answers ok and reports nothing yet).
      const started = await admin.sendAction({ action: 'rotate', recordUid: pam.user, configurationUid: pam.config });
      expect(started.code).toBe('ok');
      const jobUid = started.jobUid!;
      expect((await admin.getJob(jobUid)).job.status).toBe('running');

      // Writers: each owns records and rewrites them in turn; what was sent for each revision is kept.
      const records: string[] = [];
      for (let i = 0; i < 8; i++) records.push(await admin.addRecord(newRecordData('login', `kill ${i}`, { login: `u${i}`, password: `r1-${i}` })));
      const sent = new Map<string, Map<number, string>>(records.map((uid, i) => [uid, new Map([[1, `r1-${i}`]])]));
      const acknowledged = new Map<string, number>(records.map((uid) => [uid, 1]));
      let stop = false;
      let acks = 0;
      const writers = records.map(async (uid) => {
        let revision = 1;
        while (!stop) {
          const password = `r${revision + 1}-${uid}`;
          sent.get(uid)!.set(revision + 1, password);
          try {
            const result = await admin.updateRecord(uid, (data) => ({ ...data, fields: { ...data.fields, password } }), revision);
            revision = result.revision;
            acknowledged.set(uid, revision);
            acks += 1;
          } catch {
            return; // the Router is gone
          }
        }
      });

      await sleep(1_500);
      expect(acks).toBeGreaterThan(20);
      const killedAt = Date.now();
      router.child.kill('SIGKILL');
      await router.exited;
      stop = true;
      await Promise.all(writers);

      router = await startRouterProcess([...args, '--port', port], join(root, 'home'));
      const restartedMs = Date.now() - killedAt;

      // The job is interrupted, not running and not lost.
      const afterKill = (await admin.getJob(jobUid)).job;
      expect(['interrupted']).toContain(afterKill.status);

      // Every acknowledged write is there, and every revision opens to exactly what was sent for it.
      for (const uid of records) {
        const record = await admin.getRecord(uid);
        expect(record.revision).toBeGreaterThanOrEqual(acknowledged.get(uid)!);
        expect(record.data.fields['password']).toBe(sent.get(uid)!.get(record.revision));
      }

      // The gateway comes back by itself (its backoff is short in this test), and its report
      // of the interrupted job is taken.
      const backStarted = Date.now();
      while (gateway.connections < 2 && Date.now() - backStarted < 15_000) await sleep(50);
      expect(gateway.connections).toBe(2);
      expect(gateway.state).toBe('online');
      const gatewayBackMs = Date.now() - killedAt;
      expect(gateway.sendJob({ jobUid, status: 'finished', progress: 100, step: 'done' })).toBe(true);
      let job = (await admin.getJob(jobUid)).job;
      for (let i = 0; i < 40 && job.status !== 'finished'; i++) {
        await sleep(50);
        job = (await admin.getJob(jobUid)).job;
      }
      expect(job.status).toBe('finished');
      // A new write works.
      const next = await admin.updateRecord(records[0]!, (data) => ({ ...data, fields: { ...data.fields, password: 'after-restart' } }));
      expect(next.revision).toBeGreaterThan(acknowledged.get(records[0]!)!);

      recordFault({
        fault: `Router SIGKILLed during ${acks} acknowledged writes (${backend}); restart, then gateway back`,
        firstErrorMs: null,
        recoveryMs: gatewayBackMs,
        outcomes: [],
      });
      console.log(`[faults] ${backend}: restarted and serving ${restartedMs} ms after the kill, gateway back after ${gatewayBackMs} ms`);
    } catch (err) {
      if (err instanceof PosternError) console.log(router?.output().stderr);
      throw err;
    } finally {
      await pam.gateway.stop();
      await stopProcess(router);
      await fresh?.drop();
      removeDir(root);
    }
  }, 90_000);
});
