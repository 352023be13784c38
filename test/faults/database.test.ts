/**
 * The Router's database goes away and comes back (issue 19). PostgreSQL is reached through a
 * TCP proxy the test controls (tcp-proxy.ts), so "PostgreSQL stopped" is every connection reset
 * and every new one refused, as `pg_ctlcluster 15 main stop` does, without touching the server
 * the other suites share. The Router is a real `postern server start` process with a real
 * gateway connected; a steady load of vault requests runs through the outage; the suite prints
 * what it measured.
 */
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { VAULT_SESSION_HEADER } from '../../core/protocol/envelope.ts';
import type { RouterProcess } from '../cluster/support.ts';
import { pamSetup, sleep, type PamSetup } from '../schedule/support.ts';
import { requireService } from '../support/services.ts';
import { startTestRouter } from '../support/router.ts';
import { recordFault, printFaultTable, steadyLoad } from './measure.ts';
import { routerBehindPostgresProxy, type RouterBehindProxy } from './postgres-router.ts';
import type { TcpProxy } from './tcp-proxy.ts';

const TEST_DATABASE = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');

afterAll(() => printFaultTable());

/** A raw vault request whose session lookup needs the database: the HTTP answer as the wire has it. */
async function rawVaultAnswer(url: string): Promise<{ status: number; retryAfter: string | null; body: { error?: { code: string; message: string } } }> {
  const response = await fetch(`${url}/api/v1/vault/record.get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [VAULT_SESSION_HEADER]: 'A'.repeat(43) },
    body: '{}',
    signal: AbortSignal.timeout(15_000),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as { error?: { code: string; message: string } },
  };
}

async function health(url: string, path: '/healthz' | '/readyz'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const codeOf = (err: unknown) => (err instanceof PosternError ? err.code : 'untyped');

describe.skipIf(!TEST_DATABASE)('PostgreSQL goes away under a Router (postern server start, real gateway, steady load)', () => {
  let setup: RouterBehindProxy;
  let proxy: TcpProxy;
  let router: RouterProcess;
  let pam: PamSetup;

  beforeAll(async () => {
    setup = await routerBehindPostgresProxy(TEST_DATABASE!, 'postern-fault-db-');
    ({ proxy, router } = setup);
    pam = await pamSetup(router.info.url);
  }, 60_000);

  afterAll(async () => {
    await pam?.gateway.stop();
    await setup?.close();
  });

  it('answers 503 unavailable with Retry-After while it is away, keeps its gateway, says so at /healthz and /readyz, and serves again by itself', async () => {
    const { admin, user, gateway } = pam;
    expect((await health(router.info.url, '/readyz')).status).toBe(200);
    const load = steadyLoad(50, () => admin.getRecord(user), codeOf);
    await sleep(1_000);

    const cutAt = Date.now();
    proxy.cut();
    const firstError = await load.waitFor((o) => o.at >= cutAt && o.outcome !== 'ok', 15_000);
    expect(firstError.outcome).toBe('unavailable');

    const raw = await rawVaultAnswer(router.info.url);
    expect(raw.status).toBe(503);
    expect(raw.retryAfter).toBe('5');
    expect(raw.body.error?.code).toBe('unavailable');
    expect(raw.body.error?.message).toMatch(/cannot reach its database|database, which is restarting/);
    const ready = await health(router.info.url, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body['ready']).toBe(false);
    const live = await health(router.info.url, '/healthz');
    expect(live.status).toBe(200);
    expect(live.body['status']).toBe('degraded');
    expect(live.body['database']).toMatchObject({ ok: false });
    expect(live.body['gateways']).toBe(1);
    // Anyone may ask: the answer names the fault, never the database's address or the driver's words.
    expect(JSON.stringify(live.body)).not.toMatch(new RegExp(`postgres|${proxy.port}|ECONN|terminat`, 'i'));

    await sleep(3_000);
    expect(router.child.exitCode).toBeNull();
    expect(router.child.signalCode).toBeNull();
    expect(gateway.state).toBe('online');
    expect(gateway.connections).toBe(1);

    const restoredAt = Date.now();
    proxy.restore();
    const firstOk = await load.waitFor((o) => o.at >= restoredAt && o.outcome === 'ok', 20_000);
    await sleep(1_000);
    const outcomes = await load.stop();

    expect((await health(router.info.url, '/readyz')).status).toBe(200);
    expect((await health(router.info.url, '/healthz')).body['status']).toBe('ok');
    // Every request had an answer, and every refusal was the typed one.
    const during = outcomes.filter((o) => o.at >= cutAt && o.at < restoredAt);
    expect(during.length).toBeGreaterThan(100);
    expect(outcomes.filter((o) => o.outcome !== 'ok' && o.outcome !== 'unavailable')).toEqual([]);
    expect(outcomes.filter((o) => o.at >= firstOk.at && o.outcome !== 'ok')).toEqual([]);
    // The gateway never noticed.
    expect(gateway.connections).toBe(1);
    expect((await admin.getRecord(user)).data.fields['password']).toBe('old-canary');

    recordFault({
      fault: 'PostgreSQL stopped (every connection reset, new ones refused), 4 s',
      firstErrorMs: firstError.at + firstError.ms - cutAt,
      recoveryMs: firstOk.at + firstOk.ms - restoredAt,
      outcomes: during,
    });
  }, 60_000);

  it('a write cut in flight happened completely or not at all, and the record is whole afterwards', async () => {
    const { admin, user } = pam;
    const before = await admin.getRecord(user);
    // Every database round trip now takes 200 ms; the cut falls while the Router runs the
    // update (session, nonce, access check, then the revision's transaction).
    proxy.delay(100);
    const update = admin
      .updateRecord(user, (data) => {
        setTimeout(() => proxy.cut(), 900);
        return { ...data, fields: { ...data.fields, password: 'new-canary' } };
      })
      .then(
        () => 'done' as const,
        (err: unknown) => codeOf(err),
      );
    const outcome = await update;
    proxy.delay(0);
    proxy.restore();
    // Either it completed before the cut, or it failed with the typed error.
    expect(['done', 'unavailable']).toContain(outcome);

    let after: Awaited<ReturnType<VaultClient['getRecord']>> | null = null;
    for (let i = 0; i < 50 && !after; i++) {
      after = await admin.getRecord(user).catch(() => null);
      if (!after) await sleep(200);
    }
    expect(after).not.toBeNull();
    const password = after!.data.fields['password'];
    if (after!.revision === before.revision) expect(password).toBe('old-canary');
    else {
      expect(after!.revision).toBe(before.revision + 1);
      expect(password).toBe('new-canary');
    }
    // And the next write works on whatever revision is there.
    await admin.updateRecord(user, (data) => ({ ...data, fields: { ...data.fields, password: 'third-canary' } }));
    expect((await admin.getRecord(user)).data.fields['password']).toBe('third-canary');
    // A connection lost between a transaction's queries once ended the process (an 'error'
    // event on the checked-out pg client that nobody heard).
    expect(router.child.exitCode).toBeNull();
    expect(router.child.signalCode).toBeNull();
  }, 60_000);
});

describe('SQLite locked by another process (the embedded Router)', () => {
  it('answers a write unavailable after the busy timeout, keeps reads going, and serves again once the lock is released', async () => {
    const router = await startTestRouter({ backend: 'sqlite' });
    try {
      const transport = await VaultTransport.connect(router.url);
      await registerAccount(transport, 'ops@example.com', 'ops master password');
      const vault = await VaultClient.login(transport, 'ops@example.com', 'ops master password');
      const uid = await vault.addRecord(newRecordData('login', 'db', { login: 'a', password: 'kept' }));

      // Another process holds the write lock (a backup tool, an operator's sqlite3 shell).
      const other = new SQLite(router.database);
      other.pragma('busy_timeout = 0');
      other.exec('BEGIN IMMEDIATE');
      const lockedAt = Date.now();
      const refused = await vault.getRecord(uid).then(
        () => 'ok',
        (err: unknown) => codeOf(err),
      );
      const waitedMs = Date.now() - lockedAt;
      expect(refused).toBe('unavailable');
      expect((await health(router.url, '/readyz')).status).toBe(200); // reads still work: it is not down, only locked for writes
      other.exec('COMMIT');
      other.close();
      const releasedAt = Date.now();
      expect((await vault.getRecord(uid)).data.fields['password']).toBe('kept');
      recordFault({ fault: 'SQLite write-locked by another process', firstErrorMs: waitedMs, recoveryMs: Date.now() - releasedAt, outcomes: [] });
    } finally {
      await router.stop();
    }
  }, 30_000);
});
