/**
 * Expired replay nonces are forgotten in bounded steps, oldest first, and never a live one; a
 * sweep that left some behind comes back a second later, not a minute.
 */
import type { Kysely } from 'kysely';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../core/storage/schema.ts';
import { openStorage } from '../adapters/node/storage.ts';
import { freshPostgresDatabase, storageBackends, testPostgresUrl } from '../../test/support/router.ts';
import { SWEEP_BATCH, SWEEP_CONTINUE_MS, SWEEP_EVERY_MS, sweepExpiredNonces, sweepExpiredNoncesWhenDue, type NonceTable } from './nonce-sweep.ts';

const NOW = 10_000_000;

describe.each(storageBackends())('nonce sweeps (%s)', (backend) => {
  let db: Kysely<Database>;
  const drops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    if (backend === 'postgres') {
      const fresh = await freshPostgresDatabase(testPostgresUrl()!);
      drops.push(fresh.drop);
      db = await openStorage({ kind: 'postgres', url: fresh.url });
    } else {
      db = await openStorage({ kind: 'sqlite', path: ':memory:' });
    }
  });
  afterAll(async () => {
    await db?.destroy();
    for (const drop of drops) await drop();
  });

  async function fill(table: NonceTable, expired: number, live: number): Promise<void> {
    const rows = [
      ...Array.from({ length: expired }, (_, n) => ({ nonce: `old-${n}`, expires_at: NOW - 1 - (n % 700) })),
      ...Array.from({ length: live }, (_, n) => ({ nonce: `live-${n}`, expires_at: NOW + 1 + n })),
    ];
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      if (table === 'vault_nonces') await db.insertInto('vault_nonces').values(chunk).execute();
      else
        await db
          .insertInto('device_nonces')
          .values(chunk.map((r) => ({ ...r, device_uid: 'device-1' })))
          .execute();
    }
  }
  const left = async (table: NonceTable, where: 'old' | 'live') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('nonce', 'like', `${where}-%`)
          .executeTakeFirstOrThrow()
      ).n,
    );

  for (const table of ['vault_nonces', 'device_nonces'] as const) {
    it(`${table}: each step deletes about ${SWEEP_BATCH} of the oldest expired, until none is left; live nonces stay`, async () => {
      await fill(table, 2 * SWEEP_BATCH + 500, 50);
      expect(await sweepExpiredNonces(db, table, NOW)).toBe(true);
      const afterOne = await left(table, 'old');
      // about a batch (rows sharing the boundary's expiry go with it), never everything at once
      expect(afterOne).toBeLessThanOrEqual(2 * SWEEP_BATCH + 500 - SWEEP_BATCH);
      expect(afterOne).toBeGreaterThan(SWEEP_BATCH / 2);
      let steps = 1;
      while (await sweepExpiredNonces(db, table, NOW)) steps++;
      expect(steps).toBeGreaterThanOrEqual(2);
      expect(await left(table, 'old')).toBe(0);
      expect(await left(table, 'live')).toBe(50);
    });
  }

  it('runs a step when due: at once, then a minute later, or a second later while expired nonces are left', async () => {
    // everything expired fits one step: the next one waits a minute
    await fill('vault_nonces', 10, 0);
    await sweepExpiredNoncesWhenDue(db, 'vault_nonces', NOW);
    expect(await left('vault_nonces', 'old')).toBe(0);
    await db
      .insertInto('vault_nonces')
      .values({ nonce: 'old-late', expires_at: NOW - 1 })
      .execute();
    await sweepExpiredNoncesWhenDue(db, 'vault_nonces', NOW + SWEEP_EVERY_MS - 1);
    expect(await left('vault_nonces', 'old')).toBe(1);
    await sweepExpiredNoncesWhenDue(db, 'vault_nonces', NOW + SWEEP_EVERY_MS);
    expect(await left('vault_nonces', 'old')).toBe(0);

    // more than a step's worth: the next step comes a second later
    const start = NOW + 2 * SWEEP_EVERY_MS;
    await fill('vault_nonces', 3 * SWEEP_BATCH, 0);
    await sweepExpiredNoncesWhenDue(db, 'vault_nonces', start);
    const afterFirst = await left('vault_nonces', 'old');
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(3 * SWEEP_BATCH);
    await sweepExpiredNoncesWhenDue(db, 'vault_nonces', start + SWEEP_CONTINUE_MS - 1);
    expect(await left('vault_nonces', 'old')).toBe(afterFirst);
    await sweepExpiredNoncesWhenDue(db, 'vault_nonces', start + SWEEP_CONTINUE_MS);
    expect(await left('vault_nonces', 'old')).toBeLessThan(afterFirst);
  });
});
