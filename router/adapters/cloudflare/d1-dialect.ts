/**
 * A kysely dialect for Cloudflare D1: SQLite's adapter and query compiler, a driver that runs
 * each compiled query as one D1 prepared statement, and an introspector that skips D1's own
 * tables. (The npm `kysely-d1` dialect uses kysely's SqliteIntrospector, which reads
 * `pragma_table_info` of every table, D1's reserved `_cf_KV` included; D1 refuses that with
 * SQLITE_AUTH, so kysely's Migrator cannot start. It also trips kysely 0.28's "outdated driver"
 * warning. Hence this small one.)
 *
 * D1 has no interactive transactions: beginning one fails loudly. The Router does not use them
 * (see router/records/revisions.ts), and kysely's Migrator runs without one on SQLite dialects.
 */
import {
  sql,
  SqliteAdapter,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type DatabaseMetadataOptions,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type SchemaMetadata,
  type TableMetadata,
} from 'kysely';

/** The part of a D1 binding used here (typed locally: no @cloudflare/workers-types needed). */
export interface D1DatabaseBinding {
  prepare(query: string): D1PreparedStatementLike;
}
export interface D1PreparedStatementLike {
  bind(...values: unknown[]): D1PreparedStatementLike;
  all<T = Record<string, unknown>>(): Promise<{ results?: T[]; meta: { changes?: number; last_row_id?: number | null } }>;
}

export class D1Dialect implements Dialect {
  constructor(private readonly database: D1DatabaseBinding) {}
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createDriver(): Driver {
    return new D1Driver(this.database);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new D1Introspector(db);
  }
}

class D1Driver implements Driver {
  private readonly connection: D1Connection;
  constructor(database: D1DatabaseBinding) {
    this.connection = new D1Connection(database);
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection;
  }
  async beginTransaction(): Promise<void> {
    throw new Error('D1 has no interactive transactions; write the change so that it needs none');
  }
  async commitTransaction(): Promise<void> {
    throw new Error('D1 has no interactive transactions');
  }
  async rollbackTransaction(): Promise<void> {
    throw new Error('D1 has no interactive transactions');
  }
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}
}

class D1Connection implements DatabaseConnection {
  constructor(private readonly database: D1DatabaseBinding) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { results, meta } = await this.database
      .prepare(query.sql)
      .bind(...query.parameters)
      .all<R>();
    const changes = meta.changes ?? 0;
    return {
      rows: results ?? [],
      numAffectedRows: BigInt(changes),
      ...(changes > 0 && meta.last_row_id != null ? { insertId: BigInt(meta.last_row_id) } : {}),
    };
  }

  // biome-ignore lint/correctness/useYield: D1 has no cursor; the generator exists only to refuse
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('D1 cannot stream query results');
  }
}

/** Tables D1 keeps for itself (`_cf_KV`, …) and SQLite's own; neither may be introspected. */
const isInternalTable = (name: string): boolean => name.startsWith('_cf_') || name.startsWith('sqlite_');
const KYSELY_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

class D1Introspector implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<unknown>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    return [];
  }

  async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; type: string }>`select name, type from sqlite_master where type in ('table', 'view') order by name`.execute(
      this.db,
    );
    const wanted = rows.filter((t) => !isInternalTable(t.name) && (options.withInternalKyselyTables || !KYSELY_TABLES.has(t.name)));
    const tables: TableMetadata[] = [];
    for (const table of wanted) {
      const { rows: columns } = await sql<{ name: string; type: string; notnull: number; dflt_value: unknown; pk: number }>`
        select name, type, "notnull", dflt_value, pk from pragma_table_info(${table.name}) order by cid`.execute(this.db);
      tables.push({
        name: table.name,
        isView: table.type === 'view',
        columns: columns.map((c) => ({
          name: c.name,
          dataType: c.type,
          isNullable: !c.notnull,
          // An INTEGER PRIMARY KEY is SQLite's rowid alias: it is filled in when omitted.
          isAutoIncrementing: c.pk > 0 && c.type.toUpperCase() === 'INTEGER',
          hasDefaultValue: c.dflt_value != null,
        })),
      });
    }
    return tables;
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}
