/**
 * Jobs across trouble, with an in-process gateway (GatewayService) and a real Router: a job
 * that ends while the Router is down is reported once the gateway is back; a gateway
 * stopped mid-job reports the job failed before it disconnects; job-cancel from the vault.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newRecordData } from '../../core/records/index.ts';
import { SecretsClient, type SecretsConfig } from '../../core/secrets-client/index.ts';
import { VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import type { SecretsReader } from '../../gateway/actions/index.ts';
import { SecretScrubber } from '../../gateway/logging/scrubber.ts';
import { GatewayService } from '../../gateway/service.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { removeDir, setupOwner, type Owner } from './support.ts';
import { silentLogger } from '../../core/logger.ts';

const quiet = silentLogger;

/** The real secrets client, held at a gate until the test opens it. */
function gatedSecrets(config: SecretsConfig) {
  const client = new SecretsClient(config);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reader: SecretsReader = {
    getSecrets: async (uids) => (await gate, client.getSecrets(uids)),
    updateSecret: (...args) => client.updateSecret(...args),
    finalizeSecretUpdate: (...args) => client.finalizeSecretUpdate(...args),
    downloadFile: (fileUid) => client.downloadFile(fileUid),
    recordKey: (recordUid) => client.recordKey(recordUid),
  };
  return { reader, open: () => open() };
}

async function pamSetup(owner: Owner, gatewayUid: string) {
  const folder = await owner.client.addFolder(`targets-${gatewayUid.slice(0, 6)}`, { shared: true });
  await owner.client.shareFolderToApplication(owner.appUid, folder, true);
  const userUid = await owner.client.addRecord(newRecordData('pamUser', 'svc', { login: 'svc', password: 'Job-Canary-93b1' }), { folderUid: folder });
  const configurationUid = await owner.client.addRecord(
    newRecordData('pamConfiguration', 'cfg', { environment: 'local', gatewayUid, applicationFolderUid: folder, features: { rotation: true } }),
    { folderUid: folder },
  );
  return { userUid, configurationUid };
}

describe('gateway jobs', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'postern-gw-jobs-'));
  afterAll(() => removeDir(dataDir));

  it('reports a job that ended while the Router was down, once it is back', async () => {
    let router: TestRouter = await startTestRouter({ dataDir });
    const port = router.port;
    const owner = await setupOwner(router.url, 'jobs-admin@example.com');
    const { token, deviceUid } = await owner.gatewayToken('jobs');
    const config = await SecretsClient.redeemToken(token);
    const secrets = gatedSecrets(config);
    const service = new GatewayService({
      config,
      version: 'test',
      logger: quiet,
      scrubber: new SecretScrubber(),
      secrets: secrets.reader,
      link: { backoff: { baseMs: 100, capMs: 400 } },
    });
    try {
      service.start();
      await service.link.whenOnline();
      const { userUid, configurationUid } = await pamSetup(owner, deviceUid);
      const outcome = await owner.client.sendAction({ action: 'rotate', recordUid: userUid, configurationUid });
      expect(outcome.code).toBe('ok');
      const jobUid = outcome.jobUid!;
      await expect.poll(async () => (await owner.client.getJob(jobUid)).job.step).toBe('fetching records');

      await router.stop();
      await expect.poll(() => service.link.state).not.toBe('online');
      // The job goes on while the Router is away: it cannot reach it, fails, and its updates wait.
      secrets.open();
      await expect.poll(() => service.tasks.get(jobUid)?.status).toBe('failed');
      expect(service.tasks.pendingUpdates).toBeGreaterThan(0);
      router = await startTestRouter({ dataDir, port });
      await service.link.whenOnline();
      const resumed = await resumeOwner(router, owner);
      await expect.poll(async () => (await resumed.getJob(jobUid)).job.status, { timeout: 10_000 }).toBe('failed');
      const { job, logs } = await resumed.getJob(jobUid);
      expect(job.message).toMatch(/^unreachable: Cannot reach the Postern server/);
      expect(logs.at(-1)?.line).toBe(job.message);
      expect(service.tasks.pendingUpdates).toBe(0);
    } finally {
      await service.stop();
      await router.stop();
    }
  });

  it('stopping the gateway mid-job reports the job failed; job-cancel from the vault cancels one', async () => {
    const router = await startTestRouter({});
    const owner = await setupOwner(router.url, 'jobs-stop@example.com');
    const { token, deviceUid } = await owner.gatewayToken('stopper');
    const config = await SecretsClient.redeemToken(token);
    const secrets = gatedSecrets(config);
    const service = new GatewayService({ config, version: 'test', logger: quiet, scrubber: new SecretScrubber(), secrets: secrets.reader });
    try {
      service.start();
      await service.link.whenOnline();
      const { userUid, configurationUid } = await pamSetup(owner, deviceUid);

      const first = await owner.client.sendAction({ action: 'rotate', recordUid: userUid, configurationUid });
      await expect.poll(async () => (await owner.client.getJob(first.jobUid!)).job.step).toBe('fetching records');
      const cancel = await owner.client.sendAction({ action: 'job-cancel', jobUid: first.jobUid! });
      expect(cancel).toMatchObject({ code: 'ok', data: { jobUid: first.jobUid, status: 'cancelled' } });
      await expect.poll(async () => (await owner.client.getJob(first.jobUid!)).job.status).toBe('cancelled');

      const second = await owner.client.sendAction({ action: 'rotate', recordUid: userUid, configurationUid });
      await expect.poll(async () => (await owner.client.getJob(second.jobUid!)).job.step).toBe('fetching records');
      await service.stop('SIGTERM');
      await expect.poll(() => router.router.hub.isConnectedHere(deviceUid)).toBe(false);
      const { job } = await owner.client.getJob(second.jobUid!);
      expect(job).toMatchObject({ status: 'failed', message: 'The gateway stopped (SIGTERM) before the job ended.' });
      secrets.open();
    } finally {
      await service.stop();
      await router.stop();
    }
  });
});

/** The owner's session survives the restart (sessions live in the database): resume it. */
async function resumeOwner(router: TestRouter, owner: Owner): Promise<VaultClient> {
  return VaultClient.resume(await VaultTransport.connect(router.url), owner.client.session);
}
