/**
 * Which storage errors mean "the database is away", not "this request is wrong" or "Postern has
 * a bug": a PostgreSQL server stopped, restarting, failing over, out of connections or
 * unreachable, or a SQLite file locked by another process, read-only or on a failing disk.
 * Those are answered `unavailable` (HTTP 503 with Retry-After) and the client may retry; any
 * other error stays `internal`.
 */

/** PostgreSQL SQLSTATEs: connection exceptions (08…), the server shutting down or starting (57P0…), too many connections. */
const POSTGRES_UNAVAILABLE = /^(08\w{3}|57P0[1-4]|53300|53400)$/;
/** Node's socket errors on the way to the server. */
const NETWORK_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** better-sqlite3's codes (extended ones start with these). */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|READONLY|CANTOPEN|IOERR|FULL|PROTOCOL|NOLFS)/;
/** pg reports a lost connection or a pool timeout as a plain Error without a code. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error and is not queryable/,
  /^Connection terminated due to connection timeout/,
];

export type DatabaseFault = 'unreachable' | 'shutting_down' | 'overloaded' | 'locked' | 'read_only' | 'disk';

/** The kind of database outage `err` shows, or null when it is not one. */
export function databaseFault(err: unknown): DatabaseFault | null {
  if (!(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (POSTGRES_UNAVAILABLE.test(code)) return code.startsWith('57P') ? 'shutting_down' : code.startsWith('53') ? 'overloaded' : 'unreachable';
    if (NETWORK_UNAVAILABLE.has(code)) return 'unreachable';
    const sqlite = SQLITE_UNAVAILABLE.exec(code)?.[1];
    if (sqlite) return sqlite === 'BUSY' || sqlite === 'LOCKED' ? 'locked' : sqlite === 'READONLY' ? 'read_only' : 'disk';
  }
  // An AggregateError (several addresses refused) carries the codes on its members.
  if (err instanceof AggregateError && err.errors.some((e) => databaseFault(e) !== null)) return 'unreachable';
  if (PG_MESSAGES.some((re) => re.test(err.message))) return 'unreachable';
  return null;
}

const EXPLAIN: Record<DatabaseFault, string> = {
  unreachable: 'cannot reach its database',
  shutting_down: 'lost its database, which is restarting or shutting down',
  overloaded: 'finds its database out of connections or resources',
  locked: 'finds its database locked by another process',
  read_only: 'finds its database read-only',
  disk: 'cannot read or write its database file (disk error or disk full)',
};

/** One sentence for the administrator: what is wrong, that it may pass, what to check. */
export function describeDatabaseFault(fault: DatabaseFault): string {
  return `The Router ${EXPLAIN[fault]}. Retry in a few seconds; if the request changed something, check whether it took effect before repeating it. Its operator can see the state at /healthz.`;
}
