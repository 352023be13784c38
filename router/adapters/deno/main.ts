/**
 * `deno run` entry for the Router, configured from the environment:
 *
 *   POSTERN_DATABASE     postgres://… URL or SQLite path (default <POSTERN_DATA_DIR>/postern.db)
 *   POSTERN_DATA_DIR     key file (router-key.json) and default SQLite database
 *   POSTERN_ROUTER_KEY   base64url P-256 private key (instead of the key file)
 *   POSTERN_HOST / POSTERN_PORT   listen address (default 127.0.0.1:8080; port 0 picks one)
 *   POSTERN_TRUSTED_PROXIES=CIDR,…  reverse proxies whose X-Forwarded-For is believed; POSTERN_LOG_LEVEL=debug|info|warn|error
 *
 *   deno run --allow-net --allow-env=POSTERN_*,PG* router/adapters/deno/main.ts          (PostgreSQL)
 *   deno run --allow-net --allow-env=POSTERN_* --allow-read=DIR --allow-write=DIR router/adapters/deno/main.ts
 *
 * Bare imports (hono, kysely, pg, …) resolve from node_modules (deno.json: nodeModulesDir
 * "manual"), so `npm ci` first; nothing is fetched at run time. It prints JSON log lines;
 * `router listening` carries the port. SIGINT/SIGTERM stop it cleanly.
 */
import { denoRuntime } from './deno-api.ts';
import { optionsFromEnv, startDenoRouter } from './serve.ts';

const deno = denoRuntime();
try {
  const router = await startDenoRouter(optionsFromEnv());
  const stop = () => {
    router.close().then(
      () => deno.exit(0),
      () => deno.exit(1),
    );
  };
  deno.addSignalListener('SIGINT', stop);
  deno.addSignalListener('SIGTERM', stop);
} catch (err) {
  console.error(JSON.stringify({ level: 'error', time: Date.now(), msg: 'router failed to start', error: err instanceof Error ? err.message : String(err) }));
  deno.exit(1);
}
