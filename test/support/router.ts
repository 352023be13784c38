/**
 * Start a real Router (Node adapter, real HTTP on loopback) for a test, on SQLite in a temp
 * dir or on the PostgreSQL named by POSTERN_TEST_DATABASE (a fresh schema per Router).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { randomBytes, toHex } from '../../core/crypto/index.ts';
import { startNodeRouter, type RunningRouter } from '../../router/adapters/node/index.ts';
import type { RouterLimits } from '../../router/deps.ts';
import type { RelayConfig } from '../../router/relay/ice-servers.ts';
import { requireService } from './services.ts';

export interface TestRouter extends RunningRouter {
  dataDir: string;
  database: string;
  backend: 'sqlite' | 'postgres';
  stop(): Promise<void>;
}

/** The PostgreSQL server the suite runs against, when scripts/test.sh found or started one. */
export function testPostgresUrl(): string | null {
  return requireService('PostgreSQL', 'POSTERN_TEST_DATABASE');
}

/** A new, empty database on the test PostgreSQL server, dropped (with its connections) later. */
export async function freshPostgresDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `postern_test_${toHex(randomBytes(6))}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function startTestRouter(
  options: {
    backend?: 'sqlite' | 'postgres';
    limits?: Partial<RouterLimits>;
    dataDir?: string;
    port?: number;
    /** Believe X-Forwarded-For from loopback, where the test's own requests come from (shorthand for trustedProxies). */
    trustProxy?: boolean;
    /** `--trusted-proxy` ranges. */
    trustedProxies?: string[];
    /**
     * Default true: most suites register several users on one Router. Tests of invitation-only
     * registration (the production default) pass false.
     */
    openRegistration?: boolean;
    heartbeat?: { intervalMs: number; timeoutMs: number };
    /** The Relay whose TURN credentials the Router hands out. */
    relay?: RelayConfig;
  } = {},
): Promise<TestRouter> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'postern-router-'));
  const backend = options.backend ?? 'sqlite';
  let database = join(dataDir, 'postern.db');
  let drop = async () => {};
  if (backend === 'postgres') {
    const base = testPostgresUrl();
    if (!base) throw new Error('POSTERN_TEST_DATABASE is not set; run the suite through `npm test`, which finds or starts PostgreSQL.');
    const fresh = await freshPostgresDatabase(base);
    database = fresh.url;
    drop = fresh.drop;
  }
  const router = await startNodeRouter({
    dataDir,
    database,
    port: options.port ?? 0,
    trustedProxies: options.trustedProxies ?? (options.trustProxy ? ['127.0.0.0/8', '::1'] : []),
    ...((options.openRegistration ?? true) ? { openRegistration: true } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
    ...(options.relay ? { relay: options.relay } : {}),
  });
  return {
    ...router,
    dataDir,
    database,
    backend,
    async stop() {
      await router.close();
      // Let this process's HTTP clients see the server's FIN on their pooled keep-alive
      // sockets before a test reuses the port; otherwise the next request may pick a dead one.
      await new Promise((resolve) => setTimeout(resolve, 25));
      await drop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Backends every storage-touching suite runs on: SQLite always, PostgreSQL when available. */
export function storageBackends(): ('sqlite' | 'postgres')[] {
  return testPostgresUrl() ? ['sqlite', 'postgres'] : ['sqlite'];
}
