/**
 * Prepared queries give the same rows as the same query built the ordinary way, on SQLite and on
 * PostgreSQL, with fixed values kept, repeated placeholders filled, and a missing value refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openStorage } from '../../router/adapters/node/storage.ts';
import { freshPostgresDatabase, storageBackends, testPostgresUrl } from '../../test/support/router.ts';
import { prepareQuery } from './prepared.ts';
import type { Database } from './schema.ts';

const nonceByValue = prepareQuery<Database, { nonce: string }>()((db, $) => db.selectFrom('vault_nonces').selectAll().where('nonce', '=', $.nonce));
const insertNonce = prepareQuery<Database, { nonce: string; expiresAt: number }>()((db, $) =>
  db.insertInto('vault_nonces').values({ nonce: $.nonce, expires_at: $.expiresAt }),
);
const noncesBetween = prepareQuery<Database, { low: number; high: number }>()((db, $) =>
  db
    .selectFrom('vault_nonces')
    .select('nonce')
    .where('expires_at', '>=', $.low)
    .where('expires_at', '<=', $.high)
    .where('nonce', '!=', 'fixed-excluded')
    .orderBy('nonce'),
);
const sameValueTwice = prepareQuery<Database, { at: number }>()((db, $) =>
  db
    .selectFrom('vault_nonces')
    .select('nonce')
    .where((eb) => eb.or([eb('expires_at', '=', $.at), eb('expires_at', '=', eb.val($.at))])),
);

describe.each(storageBackends())('prepared queries (%s)', (backend) => {
  let db: Kysely<Database>;
  let drop: (() => Promise<void>) | null = null;

  beforeAll(async () => {
    if (backend === 'postgres') {
      const fresh = await freshPostgresDatabase(testPostgresUrl()!);
      drop = fresh.drop;
      db = await openStorage({ kind: 'postgres', url: fresh.url });
    } else {
      db = await openStorage({ kind: 'sqlite', path: ':memory:' });
    }
    for (let n = 0; n < 10; n++) await insertNonce.execute(db, { nonce: `n${n}`, expiresAt: 1000 + n });
    await db.insertInto('vault_nonces').values({ nonce: 'fixed-excluded', expires_at: 1005 }).execute();
  });
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
  });

  it('returns what the same query built the ordinary way returns', async () => {
    expect(await nonceByValue.first(db, { nonce: 'n3' })).toEqual(await db.selectFrom('vault_nonces').selectAll().where('nonce', '=', 'n3').executeTakeFirst());
    expect(await nonceByValue.first(db, { nonce: 'absent' })).toBeUndefined();
    const ordinary = await db
      .selectFrom('vault_nonces')
      .select('nonce')
      .where('expires_at', '>=', 1002)
      .where('expires_at', '<=', 1006)
      .where('nonce', '!=', 'fixed-excluded')
      .orderBy('nonce')
      .execute();
    expect(await noncesBetween.all(db, { low: 1002, high: 1006 })).toEqual(ordinary);
    expect(ordinary.map((r) => r.nonce)).toEqual(['n2', 'n3', 'n4', 'n5', 'n6']); // the fixed value stayed in
    expect((await sameValueTwice.all(db, { at: 1007 })).map((r) => r.nonce)).toEqual(['n7']);
  });

  it('compiles once per database handle, with the values as parameters, never in the SQL text', () => {
    const sql = noncesBetween.sql(db);
    expect(sql).not.toContain('1002');
    expect(sql).not.toContain('postern:param');
    expect(noncesBetween.sql(db)).toBe(sql);
  });

  it('refuses to run without a value for every placeholder, and a duplicate insert fails as it would unprepared', async () => {
    await expect(nonceByValue.first(db, {} as { nonce: string })).rejects.toThrow('no value for "nonce"');
    await expect(insertNonce.execute(db, { nonce: 'n1', expiresAt: 1 })).rejects.toThrow();
  });
});
