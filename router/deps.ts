import type { Context, Hono } from 'hono';
import type { UpgradeWebSocket } from 'hono/ws';
import type { ClusterBus } from './cluster/bus.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../core/storage/schema.ts';
import type { Logger } from './logger.ts';
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
  sessionTtlMs: number;
  /** Failed logins allowed per account (and, ×4, per client address) in the window. */
  loginFailuresPerWindow: number;
  loginWindowMs: number;
}

export const DEFAULT_LIMITS: RouterLimits = {
  maxBodyBytes: 1024 * 1024,
  maxFileBodyBytes: 32 * 1024 * 1024,
  sessionTtlMs: 60 * 60 * 1000,
  loginFailuresPerWindow: 5,
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
