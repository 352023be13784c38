import { Kysely, SqliteDialect } from 'kysely';
import SQLite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../core/storage/schema.ts';
import { DatabaseHealth, PROBE_REUSE_MS } from './database-health.ts';

function logger() {
  const lines: string[] = [];
  const log = (obj: Record<string, unknown>, msg?: string) => lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
  return { lines, logger: { debug: log, info: log, warn: log, error: log } };
}

describe('DatabaseHealth', () => {
  it('probes once per interval however many ask, turns down on a fault and up when the probe succeeds, logging each change once', async () => {
    const sqlite = new SQLite(':memory:');
    let queries = 0;
    let failing = false;
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({
        database: {
          close: () => sqlite.close(),
          prepare: (text: string) => {
            queries += 1;
            if (failing) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
            return sqlite.prepare(text) as never;
          },
        },
      }),
    });
    let clock = 1_000_000;
    const { lines, logger: log } = logger();
    const health = new DatabaseHealth(db, log, () => clock);
    try {
      const [a, b] = await Promise.all([health.check(), health.check()]);
      expect(a).toMatchObject({ ok: true });
      expect(b).toBe(a);
      expect(queries).toBe(1);
      expect(await health.check()).toBe(a); // reused within PROBE_REUSE_MS
      expect(queries).toBe(1);

      failing = true;
      health.noteError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      health.noteError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      clock += PROBE_REUSE_MS;
      const down = await health.check();
      expect(down).toMatchObject({ ok: false, fault: 'unreachable', downSince: 1_000_000 });
      expect(lines.filter((l) => l.startsWith('database unavailable'))).toHaveLength(1);

      health.noteError(new Error('duplicate key')); // not an outage: changes nothing
      failing = false;
      clock += PROBE_REUSE_MS;
      expect(await health.check()).toMatchObject({ ok: true });
      expect(lines.filter((l) => l.startsWith('database available again'))).toHaveLength(1);
      expect(lines.find((l) => l.startsWith('database available again'))).toContain(`"downForMs":${2 * PROBE_REUSE_MS}`);
    } finally {
      health.close();
      await db.destroy();
    }
  });
});
