/**
 * better-sqlite3 as kysely's SqliteDatabase, fitted to the Router's load:
 *
 * - Each SQL text is prepared once. Kysely asks for a new statement on every query, and
 *   preparing (parsing and planning) cost about as much Router CPU per vault request as running
 *   the queries (test/bench/vault-api). A statement is only ever used synchronously here
 *   (Postern does not stream rows), so sharing one is safe.
 *
 * - Durability per write. better-sqlite3 builds SQLite with WAL commits at `synchronous =
 *   NORMAL`: they survive a crash of the process but not a power cut, which may take the last
 *   commits with it. That is wrong for a write a client is told has happened: a record, a key,
 *   a pending rotation secret (the gateway changes the target's password next), a logout. Those
 *   commit with FULL, which syncs the disk (several times NORMAL's cost; figures in
 *   docs/decisions/0008-native-crypto.md, "Other per-request costs"). Writes that happen on
 *   every request or connection and are harmless to lose in a power cut stay at NORMAL: replay
 *   nonces (they expire within ten minutes, and the Router was down meanwhile), gateway sessions
 *   (re-made when the gateways reconnect), audit events (the last second of the trail before
 *   a power cut; a sync per record read would cost a third of the Router's CPU per request), and
 *   two timestamps alone: a device's last_seen_at and a session's sliding expiry. Explicit
 *   transactions always run with FULL.
 */
import type SQLite from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Distinct SQL texts kept prepared; the Router's queries are parameterised, so a few hundred cover them. */
const PREPARED_STATEMENTS_KEPT = 1000;

/** Tables whose latest rows may be lost in a power cut (see the header). */
const EPHEMERAL_TABLES: ReadonlySet<string> = new Set(['vault_nonces', 'device_nonces', 'gateway_sessions', 'events']);

/** Updates of nothing but a timestamp (kysely's exact text, so another column set with it is not matched). */
const EPHEMERAL_UPDATES: readonly RegExp[] = [/^update "devices" set "last_seen_at" = \? where /, /^update "sessions" set "expires_at" = \? where /];

const WRITE = /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?/i;

/** True for a write that may be lost in a power cut (see the header). */
export function isEphemeralWrite(sql: string): boolean {
  const table = WRITE.exec(sql)?.[1];
  if (table === undefined) return false;
  return EPHEMERAL_TABLES.has(table.toLowerCase()) || EPHEMERAL_UPDATES.some((re) => re.test(sql));
}

type Synchronous = 'FULL' | 'NORMAL';

export function routerSqlite(sqlite: SQLite.Database, options: { onClose?: () => void } = {}): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  let synchronous: Synchronous | null = null;
  const use = (mode: Synchronous) => {
    // Never inside a transaction: one began under FULL and commits under it.
    if (synchronous === mode || sqlite.inTransaction) return;
    sqlite.pragma(`synchronous = ${mode}`);
    synchronous = mode;
  };
  use('FULL');

  const wrap = (sql: string): SqliteStatement => {
    const statement = sqlite.prepare(sql);
    const mode: Synchronous = isEphemeralWrite(sql) ? 'NORMAL' : 'FULL';
    return {
      reader: statement.reader,
      all: (parameters) => statement.all(...parameters),
      iterate: (parameters) => statement.iterate(...parameters),
      run: (parameters) => {
        use(mode);
        return statement.run(...parameters);
      },
    };
  };

  return {
    close: () => {
      statements.clear();
      sqlite.close();
      options.onClose?.();
    },
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement) {
        statements.delete(sql); // most recently used goes last
      } else {
        statement = wrap(sql);
        if (statements.size >= PREPARED_STATEMENTS_KEPT) statements.delete(statements.keys().next().value!);
      }
      statements.set(sql, statement);
      return statement;
    },
    /** @internal for tests: the synchronous mode the last write ran under. */
    get synchronous() {
      return synchronous;
    },
  } as SqliteDatabase & { readonly synchronous: Synchronous | null };
}
