import SQLite from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_EVERY_MS, startWalCheckpointer, WAL_BACKSTOP_PAGES, type WalCheckpointer } from './wal-checkpointer.ts';

const dirs: string[] = [];
const open: { sqlite: SQLite.Database; checkpointer: WalCheckpointer }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.checkpointer.stop();
    if (o.sqlite.open) o.sqlite.close();
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function database(): { sqlite: SQLite.Database; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-wal-'));
  dirs.push(dir);
  const path = join(dir, 'postern.db');
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.exec('create table t (id integer primary key, v text not null)');
  return { sqlite, path };
}

const until = async (what: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

describe('WAL checkpoints on a worker thread', () => {
  it('copies committed pages into the database file while the writing connection never checkpoints by itself', async () => {
    const { sqlite, path } = database();
    const checkpointer = startWalCheckpointer(sqlite, path);
    open.push({ sqlite, checkpointer });
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_BACKSTOP_PAGES);
    const before = statSync(path).size;
    // About 1,000 pages, far under the backstop: only the thread can move them into the file.
    const insert = sqlite.prepare('insert into t (v) values (?)');
    for (let i = 0; i < 1000; i++) insert.run('x'.repeat(4000));
    await until(() => statSync(path).size > before + 1000 * 4000, 20 * CHECKPOINT_EVERY_MS);
    expect(statSync(path).size).toBeGreaterThan(before + 1000 * 4000);
    const stats = await checkpointer.stats();
    expect(stats.checkpoints).toBeGreaterThan(0);
    expect(stats.pages).toBeGreaterThanOrEqual(1000);
    expect(sqlite.prepare('select count(*) as n from t').get()).toEqual({ n: 1000 });
  });

  it('stops with a last checkpoint, and the writer goes on alone', async () => {
    const { sqlite, path } = database();
    const checkpointer = startWalCheckpointer(sqlite, path);
    open.push({ sqlite, checkpointer });
    await checkpointer.stop();
    await checkpointer.stop(); // twice is harmless
    sqlite.prepare('insert into t (v) values (?)').run('after');
    expect(sqlite.prepare('select v from t').all()).toEqual([{ v: 'after' }]);
  });

  it('reports a thread that cannot open the database instead of failing silently', async () => {
    const { sqlite } = database();
    const errors: string[] = [];
    const checkpointer = startWalCheckpointer(sqlite, join(tmpdir(), 'postern-wal-missing', 'nothing.db'), (m) => errors.push(m));
    open.push({ sqlite, checkpointer });
    await until(() => errors.length > 0, 5_000);
    expect(errors.join('\n')).toMatch(/unable to open|directory does not exist|does not exist/i);
  });
});
