/**
 * `deno serve` entry for the Router: the same settings as main.ts from POSTERN_* variables,
 * except the listen address, which `deno serve --host H --port P` owns.
 *
 *   deno serve --host 127.0.0.1 --port 8080 --allow-net --allow-env=POSTERN_*,PG* router/adapters/deno/serve-entry.ts
 *
 * `--parallel` runs one Router per core; use it with PostgreSQL (kysely takes an advisory lock
 * for the migrations there), not SQLite, where concurrent first starts race on the migrations.
 */
import { createDenoRouter, optionsFromEnv } from './serve.ts';

const router = await createDenoRouter(optionsFromEnv());

export default { fetch: router.fetch };
