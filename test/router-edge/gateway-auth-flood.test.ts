/**
 * Issue 10 item 13, for gateways: a removed gateway (a real `postern-gateway` process) keeps
 * reconnecting and is refused every time; the audit trail counts every refusal in one row
 * instead of growing by a row per attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOk, logText, removeDir, runGateway, setupOwner, startConnectedGateway, tempHome, type Owner } from '../gateway/support.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';

describe('failed gateway authentications are aggregated in the audit trail', () => {
  let router: TestRouter;
  let owner: Owner;
  const home = tempHome();

  beforeAll(async () => {
    router = await startTestRouter({ backend: 'sqlite' });
    owner = await setupOwner(router.url, 'owner@example.com');
  });
  afterAll(async () => {
    await router?.stop();
    removeDir(home);
  });

  it('counts the refusals of a removed gateway that keeps reconnecting in one row', async () => {
    // threat model (docs/threat-model.md): gateway
    const { token, deviceUid } = await owner.gatewayToken('removed');
    expectOk(await runGateway(['init', '--token', token], { home }), 'init');
    const gw = await startConnectedGateway(home, () => router.router.hub.isConnectedHere(deviceUid));
    try {
      await owner.client.removeGateway(deviceUid);
      await expect
        .poll(() => (logText(home).match(/the Router refused this gateway/g) ?? []).length, { timeout: 30_000, interval: 100 })
        .toBeGreaterThanOrEqual(3);
    } finally {
      await gw.stop();
    }
    const rows = await router.db.selectFrom('events').selectAll().where('action', '=', 'gateway.connect').where('outcome', '=', 'denied').execute();
    expect(rows).toHaveLength(1);
    const detail = JSON.parse(rows[0]!.detail!) as { code: string; count: number };
    expect(detail.code).toBe('revoked');
    expect(detail.count).toBeGreaterThanOrEqual(3);
  });
});
