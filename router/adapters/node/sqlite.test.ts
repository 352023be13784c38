import SQLite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../../core/storage/migrate.ts';
import type { Database } from '../../../core/storage/schema.ts';
import { markDeviceSeen } from '../../access/device-seen.ts';
import { isEphemeralWrite, routerSqlite } from './sqlite.ts';

describe('which writes may commit without a disk sync', () => {
  it('only inserts, updates and deletes of the replay nonces, gateway sessions and audit events', () => {
    expect(isEphemeralWrite('insert into "vault_nonces" ("nonce", "expires_at") values (?, ?)')).toBe(true);
    expect(isEphemeralWrite('delete from "device_nonces" where "expires_at" < ?')).toBe(true);
    expect(isEphemeralWrite('insert into "gateway_sessions" ("gateway_uid") values (?) on conflict ("gateway_uid") do update set "worker_id" = ?')).toBe(true);
    expect(isEphemeralWrite('update "gateway_sessions" set "last_seen_at" = ?')).toBe(true);
    expect(isEphemeralWrite('insert into "events" ("uid") values (?)')).toBe(true);
    expect(isEphemeralWrite('update "devices" set "last_seen_at" = ? where "uid" = ?')).toBe(true);
    expect(isEphemeralWrite('update "sessions" set "expires_at" = ? where "token_hash" = ?')).toBe(true);
    for (const sql of [
      'insert into "records" ("uid") values (?)',
      'update "records" set "pending_data" = ?',
      'insert into "event_exports" ("uid") values (?)',
      'update "users" set "encrypted_data_key" = ?',
      'delete from "sessions" where "token_hash" = ?',
      'update "devices" set "last_seen_at" = ?, "locked_ip" = ? where "uid" = ?',
      'update "devices" set "revoked_at" = ? where "uid" = ?',
      'update "sessions" set "expires_at" = ?, "user_uid" = ? where "token_hash" = ?',
      'select * from "vault_nonces"',
      'begin',
      'commit',
      'insert into "vault_nonces_archive" ("x") values (?)',
    ]) {
      expect(isEphemeralWrite(sql), sql).toBe(false);
    }
  });
});

describe('routerSqlite', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  async function open() {
    dir = mkdtempSync(join(tmpdir(), 'postern-sqlite-'));
    const sqlite = new SQLite(join(dir, 'postern.db'));
    sqlite.pragma('journal_mode = WAL');
    const wrapped = routerSqlite(sqlite);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: wrapped }) });
    await migrateToLatest(db);
    const mode = () => sqlite.pragma('synchronous', { simple: true }) as number; // 1 NORMAL, 2 FULL
    return { sqlite, wrapped, db, mode };
  }

  it('syncs every durable write, and not a replay nonce or an audit event', async () => {
    const { db, mode } = await open();
    expect(mode()).toBe(2);
    await db.insertInto('vault_nonces').values({ nonce: 'n1', expires_at: 1 }).execute();
    expect(mode()).toBe(1);
    await db.insertInto('invitations').values({ uid: 'i1', code_hash: 'h', email: 'a@example.com', created_by: 'u', created_at: 1, expires_at: 2 }).execute();
    expect(mode()).toBe(2);
    await db
      .insertInto('events')
      .values({
        uid: 'e1',
        at: 1,
        actor_kind: 'user',
        actor: 'a',
        owner_uid: null,
        action: 'x',
        record_uid: null,
        client_ip: '127.0.0.1',
        outcome: 'ok',
        detail: null,
      })
      .execute();
    expect(mode()).toBe(1);
    await db.destroy();
  });

  it("matches the Router's own timestamp updates as kysely writes them, and not an IP lock", async () => {
    const { db, mode } = await open();
    const device = { uid: 'd1', last_seen_at: null, ip_lock: 1, locked_ip: '10.0.0.1' };
    await markDeviceSeen(db, device, '10.0.0.1', 1_000_000);
    expect(mode()).toBe(1);
    await markDeviceSeen(db, { ...device, locked_ip: null }, '10.0.0.1', 1_000_000);
    expect(mode()).toBe(2);
    const slide = db.updateTable('sessions').set({ expires_at: 5 }).where('token_hash', '=', 'h').compile().sql;
    expect(isEphemeralWrite(slide)).toBe(true);
    await db.destroy();
  });

  it('runs a transaction under FULL even when it writes an ephemeral table', async () => {
    const { db, mode } = await open();
    await db.insertInto('vault_nonces').values({ nonce: 'n0', expires_at: 1 }).execute();
    expect(mode()).toBe(1);
    await db.transaction().execute(async (trx) => {
      expect(mode()).toBe(2);
      await trx.insertInto('vault_nonces').values({ nonce: 'n1', expires_at: 1 }).execute();
      expect(mode()).toBe(2);
    });
    expect(mode()).toBe(2);
    expect(await db.selectFrom('vault_nonces').select('nonce').orderBy('nonce').execute()).toEqual([{ nonce: 'n0' }, { nonce: 'n1' }]);
    await db.destroy();
  });

  it('prepares each SQL text once and still answers every query right', async () => {
    const { wrapped, db } = await open();
    expect(wrapped.prepare('select 1 as one')).toBe(wrapped.prepare('select 1 as one'));
    for (let i = 0; i < 5; i++)
      await db
        .insertInto('vault_nonces')
        .values({ nonce: `n${i}`, expires_at: i })
        .execute();
    const rows = await db.selectFrom('vault_nonces').select(['nonce', 'expires_at']).where('expires_at', '>=', 3).orderBy('expires_at').execute();
    expect(rows).toEqual([
      { nonce: 'n3', expires_at: 3 },
      { nonce: 'n4', expires_at: 4 },
    ]);
    await db.destroy();
  });
});
