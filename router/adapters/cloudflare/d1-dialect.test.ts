import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { D1DatabaseBinding, D1PreparedStatementLike } from './d1-dialect.ts';
import { d1Kysely } from './storage.ts';

/**
 * A stand-in for a D1 binding over better-sqlite3, with D1's reserved `_cf_KV` table that
 * refuses introspection (SQLITE_AUTH), as a real D1 does. The real thing runs in
 * test/runtimes/workerd.test.ts.
 */
function fakeD1(): D1DatabaseBinding {
  const db = new SQLite(':memory:');
  db.exec('CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB)');
  const statement = (query: string, values: unknown[]): D1PreparedStatementLike => ({
    bind: (...next) => statement(query, next),
    async all<T>() {
      if (/pragma_table_info/i.test(query) && values.some((v) => typeof v === 'string' && v.startsWith('_cf_'))) {
        throw new Error('D1_ERROR: not authorized: SQLITE_AUTH');
      }
      const st = db.prepare(query);
      if (st.reader) return { results: st.all(...values) as T[], meta: { changes: 0 } };
      const { changes, lastInsertRowid } = st.run(...values);
      return { results: [], meta: { changes, last_row_id: Number(lastInsertRowid) } };
    },
  });
  return { prepare: (query) => statement(query, []) };
}

describe('D1 dialect', () => {
  it('runs the bundled migrations next to D1’s own tables, and again as a no-op', async () => {
    const db = d1Kysely(fakeD1());
    expect(await migrateToLatest(db)).toEqual([
      '001_initial',
      '002_gateways',
      '003_script_approvals',
      '004_router_edge',
      '005_invitations',
      '006_nonce_expiry',
    ]);
    expect(await migrateToLatest(db)).toEqual([]);
    const tables = (await db.introspection.getTables()).map((t) => t.name);
    expect(tables).toContain('users');
    expect(tables).not.toContain('_cf_KV');
    expect(tables).not.toContain('kysely_migration');
    const users = (await db.introspection.getTables()).find((t) => t.name === 'users')!;
    expect(users.columns.find((c) => c.name === 'uid')).toMatchObject({ dataType: 'TEXT', isAutoIncrementing: false });
    expect(users.columns.find((c) => c.name === 'created_at')).toMatchObject({ isNullable: false });
  });

  it('reports affected rows and refuses transactions', async () => {
    const db = d1Kysely(fakeD1());
    await sql`create table t (id integer primary key, name text not null)`.execute(db);
    const inserted = await sql`insert into t (name) values (${'a'}), (${'b'})`.execute(db);
    expect(inserted.numAffectedRows).toBe(2n);
    expect(inserted.insertId).toBe(2n);
    const { rows } = await sql<{ name: string }>`select name from t order by id`.execute(db);
    expect(rows.map((r) => r.name)).toEqual(['a', 'b']);
    await expect(db.transaction().execute(async () => {})).rejects.toThrow(/no interactive transactions/);
  });
});
