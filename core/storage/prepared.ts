/**
 * Queries built and compiled once, run many times with new values: for the few statements on the
 * path of every request (the session lookup, the replay nonce, the record read, the audit row).
 *
 * Why: kysely builds an immutable query tree and compiles it to SQL on every execution. For a
 * vault `getRecord`, seven small statements, that building and compiling cost about 14 % of the
 * Router's CPU per request (test/bench/vault-api --cpu-profile), more than running the SQL.
 *
 * How: the query is written as usual, with each value that changes taken from `$`, whose
 * properties are placeholders. It is built and compiled once per database handle (the SQL
 * differs between SQLite and PostgreSQL); the placeholders land in the compiled parameter list,
 * and each execution substitutes the values by position. Values written into the query itself
 * (`where('kind', '=', 'gateway')`) stay as they were compiled. A list whose length varies
 * (`in`) cannot be prepared: write those queries the ordinary way.
 */
import { createQueryId, type Compilable, type CompiledQuery, type InferResult, type Kysely, type QueryResult } from 'kysely';

const PLACEHOLDER = '\u0000postern:param:';

/** What the query builder is handed: one placeholder per named value. */
export type Placeholders<P> = { readonly [K in keyof P]: P[K] };

/** A parameter slot: a named value, or a value fixed when the query was built. */
type Slot = { name: string } | { fixed: unknown };

interface Prepared {
  compiled: CompiledQuery;
  slots: readonly Slot[];
}

export class PreparedQuery<DB, P extends Record<string, unknown>, Q extends Compilable<unknown>> {
  private readonly compiledFor = new WeakMap<Kysely<DB>, Prepared>();

  constructor(private readonly build: (db: Kysely<DB>, $: Placeholders<P>) => Q) {}

  /** Runs the query with `values` and returns kysely's result (rows, affected rows). */
  async execute(db: Kysely<DB>, values: P): Promise<QueryResult<InferResult<Q>[number]>> {
    const { compiled, slots } = this.prepare(db);
    const parameters = slots.map((slot) => {
      if ('fixed' in slot) return slot.fixed;
      const value = values[slot.name];
      if (value === undefined) throw new Error(`Prepared query: no value for "${slot.name}".`);
      return value;
    });
    return db.executeQuery<InferResult<Q>[number]>({ ...compiled, parameters, queryId: createQueryId() } as CompiledQuery<InferResult<Q>[number]>);
  }

  async all(db: Kysely<DB>, values: P): Promise<InferResult<Q>> {
    return (await this.execute(db, values)).rows as InferResult<Q>;
  }

  async first(db: Kysely<DB>, values: P): Promise<InferResult<Q>[number] | undefined> {
    return (await this.execute(db, values)).rows[0];
  }

  /** The SQL as compiled for `db` (for tests and EXPLAIN). */
  sql(db: Kysely<DB>): string {
    return this.prepare(db).compiled.sql;
  }

  private prepare(db: Kysely<DB>): Prepared {
    let prepared = this.compiledFor.get(db);
    if (prepared) return prepared;
    const $ = new Proxy({} as Placeholders<P>, {
      get: (_target, name) => {
        if (typeof name !== 'string') throw new Error('Prepared query: placeholders are named by strings.');
        return `${PLACEHOLDER}${name}`;
      },
    });
    const compiled = this.build(db, $).compile() as CompiledQuery;
    const slots = compiled.parameters.map(
      (value): Slot => (typeof value === 'string' && value.startsWith(PLACEHOLDER) ? { name: value.slice(PLACEHOLDER.length) } : { fixed: value }),
    );
    if (compiled.sql.includes(PLACEHOLDER)) throw new Error('Prepared query: a placeholder was written into the SQL text instead of a parameter.');
    prepared = { compiled, slots };
    this.compiledFor.set(db, prepared);
    return prepared;
  }
}

/** A query prepared once per database handle; see the module comment. */
export function prepareQuery<DB, P extends Record<string, unknown>>(): <Q extends Compilable<unknown>>(
  build: (db: Kysely<DB>, $: Placeholders<P>) => Q,
) => PreparedQuery<DB, P, Q> {
  return (build) => new PreparedQuery(build);
}
