import type { Context, Hono } from 'hono';
import type { UpgradeWebSocket } from 'hono/ws';
import type { ClusterBus } from './cluster/bus.ts';
import type { BodyReader } from './http/body.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../core/storage/schema.ts';
import type { Logger } from '../core/logger.ts';
import type { RelayConfig } from './relay/ice-servers.ts';

/** The Router's long-lived key pair; its public half is published at /api/v1/router-key. */
export interface RouterKeys {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export interface RouterLimits {
  /** Largest envelope accepted for ordinary vault commands and device operations. */
  maxBodyBytes: number;
  /** Largest envelope accepted for file uploads. */
  maxFileBodyBytes: number;
  /** Largest envelope accepted without a session (prelogin, register, login): anyone may send these. */
  maxPublicBodyBytes: number;
  /** File uploads (vault file.upload, device add_file) one session or device may have in flight at once. */
  largeUploadsPerClient: number;
  /** File uploads the whole Router process reads at once, across all clients. */
  largeUploadsTotal: number;
  sessionTtlMs: number;
  /** Failed logins for one account from one address before each further try waits twice as long. */
  loginFailuresPerWindow: number;
  /** Failed logins from one address, across all accounts, before that address waits out the window. */
  loginFailuresPerAddress: number;
  /** Failed logins for one account, from all addresses together, before it is throttled everywhere. */
  loginFailuresPerAccount: number;
  /** The longest wait the backoff imposes on one account and address. */
  loginBackoffMaxMs: number;
  loginWindowMs: number;
}

export const DEFAULT_LIMITS: RouterLimits = {
  maxBodyBytes: 1024 * 1024,
  maxFileBodyBytes: 32 * 1024 * 1024,
  maxPublicBodyBytes: 8 * 1024,
  largeUploadsPerClient: 2,
  largeUploadsTotal: 16,
  sessionTtlMs: 60 * 60 * 1000,
  loginFailuresPerWindow: 5,
  loginFailuresPerAddress: 20,
  loginFailuresPerAccount: 100,
  loginBackoffMaxMs: 15 * 60 * 1000,
  loginWindowMs: 15 * 60 * 1000,
};

/**
 * Everything a runtime adapter hands to the Router core. Adapters (router/adapters/*)
 * open storage, load the key pair and know how to read the client address; the core
 * does not import any of them.
 */
export interface RouterDeps {
  db: Kysely<Database>;
  keys: RouterKeys;
  logger: Logger;
  clientIp: (c: Context) => string;
  /** How this runtime reads a request body (default: the web Request's stream, http/body.ts). */
  readBody?: BodyReader;
  limits?: Partial<RouterLimits>;
  now?: () => number;
  version?: string;
  /**
   * For runtimes that route gateway WebSockets through Hono. The Node adapter accepts them with
   * `ws` itself and hands them to `Router.hub.accept` (adapters/node/gateway-socket.ts says why).
   */
  upgradeWebSocket?: (app: Hono) => UpgradeWebSocket;
  /** This process's Worker id and the bus to the other Router processes (default: embedded). */
  cluster?: { workerId: string; bus: ClusterBus };
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** Whether anyone may create an account (`postern server start --open-registration`). Default false. */
  openRegistration?: boolean;
  /** The Relay (TURN) whose short-lived credentials vault clients and gateways get for WebRTC; none: direct paths only. */
  relay?: RelayConfig;
  /**
   * Run the Head's rotation scheduler in this process (router/head/scheduler.ts). Default true:
   * the embedded single-process Router is Head and Worker at once; pure Workers pass false.
   * `tickMs` (default 1000), `batchSize` (default 100) and `startGraceMs` (default 30 000: how
   * long after start a due schedule waits for its gateway to reconnect) tune it.
   */
  head?: boolean | { tickMs?: number; batchSize?: number; startGraceMs?: number };
}
