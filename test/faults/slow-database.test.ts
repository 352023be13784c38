/**
 * A slow database (every packet to and from PostgreSQL delayed by the test's proxy) under a
 * burst of requests far beyond what it can serve: the Router's event loop keeps answering what
 * needs no database, its memory stays bounded, requests beyond the pool's wait queue are
 * refused at once and waiting ones give up after the connect timeout, every answer is a typed
 * one, and when the database is fast again so is the Router.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VAULT_SESSION_HEADER } from '../../core/protocol/envelope.ts';
import { POSTGRES_POOL } from '../../router/adapters/postgres-pool.ts';
import type { RouterProcess } from '../cluster/support.ts';
import { requireService } from '../support/services.ts';
import { printFaultTable, recordFault, type Outcome } from './measure.ts';
import { routerBehindPostgresProxy, type RouterBehindProxy } from './postgres-router.ts';
import type { TcpProxy } from './tcp-proxy.ts';

const TEST_DATABASE = requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');

afterAll(() => printFaultTable());

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** A vault request whose session lookup is one database query; the answer's code, or 'hung'. */
async function lookup(url: string, n: number): Promise<Outcome> {
  const at = Date.now();
  const id = (String(n).padStart(10, '0') + 'A'.repeat(43)).slice(0, 43);
  try {
    const response = await fetch(`${url}/api/v1/vault/record.get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [VAULT_SESSION_HEADER]: id },
      body: '{}',
      signal: AbortSignal.timeout(20_000),
    });
    const body = (await response.json()) as { error?: { code: string; details?: { fault?: string } } };
    return { at, ms: Date.now() - at, outcome: body.error?.details?.fault === 'overloaded' ? 'unavailable (queue full)' : (body.error?.code ?? 'ok') };
  } catch {
    return { at, ms: Date.now() - at, outcome: 'hung' };
  }
}

describe.skipIf(!TEST_DATABASE)('a slow PostgreSQL under a burst of requests', () => {
  let setup: RouterBehindProxy;
  let proxy: TcpProxy;
  let router: RouterProcess;

  beforeAll(async () => {
    setup = await routerBehindPostgresProxy(TEST_DATABASE!, 'postern-fault-slow-');
    ({ proxy, router } = setup);
  }, 60_000);

  afterAll(() => setup?.close());

  it('keeps its event loop and memory, refuses the excess at once, and every request gets a typed answer', async () => {
    const url = router.info.url;
    expect((await lookup(url, 0)).outcome).toBe('unauthorized');
    const rssBefore = rssKiB(router.info.pid);

    proxy.delay(200); // 400 ms per round trip
    const burst = 1_000;
    const started = Date.now();
    const answers = Promise.all(Array.from({ length: burst }, (_, n) => lookup(url, n + 1)));
    // Meanwhile, what needs no database answers at once.
    const probes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      const response = await fetch(`${url}/api/v1/router-key`, { signal: AbortSignal.timeout(5_000) });
      expect(response.status).toBe(200);
      probes.push(Date.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
    const outcomes = await answers;
    const tookMs = Date.now() - started;
    const rssAfter = rssKiB(router.info.pid);
    proxy.delay(0);

    const count = (o: string) => outcomes.filter((x) => x.outcome === o).length;
    // Typed answers only: served (unknown session), refused at once (queue full), or given up
    // after the connect timeout. None hung, none untyped.
    expect(outcomes.filter((o) => !['unauthorized', 'unavailable', 'unavailable (queue full)'].includes(o.outcome))).toEqual([]);
    expect(count('unavailable (queue full)')).toBeGreaterThan(0);
    const queueFull = outcomes.filter((o) => o.outcome === 'unavailable (queue full)');
    expect(Math.max(...queueFull.map((o) => o.ms))).toBeLessThan(3_000);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(POSTGRES_POOL.connectionTimeoutMillis + 5_000);
    expect(Math.max(...probes)).toBeLessThan(1_000);
    expect(rssAfter - rssBefore).toBeLessThan(150 * 1024);

    // Fast again: the next requests are served at once.
    const after = await Promise.all(Array.from({ length: 20 }, (_, n) => lookup(url, burst + n + 1)));
    expect(after.every((o) => o.outcome === 'unauthorized')).toBe(true);
    expect(router.child.exitCode).toBeNull();

    console.log(
      `[faults] slow PostgreSQL (+400 ms per round trip), ${burst} requests at once: ${count('unauthorized')} served, ` +
        `${count('unavailable (queue full)')} refused at once (queue full), ${count('unavailable')} gave up after the connect timeout; ` +
        `all answered in ${tookMs} ms; /api/v1/router-key meanwhile p100 ${Math.max(...probes)} ms; Router RSS ${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MiB`,
    );
    recordFault({
      fault: `PostgreSQL slow (+400 ms per round trip), ${burst} requests at once`,
      firstErrorMs: Math.min(...queueFull.map((o) => o.ms)),
      recoveryMs: Math.max(...after.map((o) => o.ms)),
      // For the table: an unknown session refused is a request served.
      outcomes: outcomes.map((o) => ({ ...o, outcome: o.outcome === 'unauthorized' ? 'ok' : o.outcome.startsWith('unavailable') ? 'unavailable' : o.outcome })),
    });
  }, 90_000);
});
