/**
 * Scheduler suites: one storage that several Router processes (or restarts) share, and a vault
 * with a gateway that counts the `rotate` actions it receives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newRecordData } from '../../core/records/index.ts';
import { SecretsClient } from '../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { RouterLink, type ActionFrame } from '../../gateway/link/router-link.ts';
import { startNodeRouter, type RunningRouter } from '../../router/adapters/node/index.ts';
import type { ClusterBus } from '../../router/cluster/bus.ts';
import { freshPostgresDatabase, testPostgresUrl } from '../support/router.ts';
import { silentLogger } from '../../core/logger.ts';

export const quiet = silentLogger;

export interface SharedStorage {
  backend: 'sqlite' | 'postgres';
  dataDir: string;
  /** A SQLite path or a postgres:// URL. */
  database: string;
  drop(): Promise<void>;
}

/** A data dir and a database every Router in the test opens: a SQLite file, or a fresh PostgreSQL database. */
export async function sharedStorage(backend: 'sqlite' | 'postgres'): Promise<SharedStorage> {
  const dataDir = mkdtempSync(join(tmpdir(), 'postern-schedule-'));
  if (backend === 'sqlite') {
    return { backend, dataDir, database: join(dataDir, 'postern.db'), drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const base = testPostgresUrl();
  if (!base) throw new Error('POSTERN_TEST_DATABASE is not set');
  const fresh = await freshPostgresDatabase(base);
  return {
    backend,
    dataDir,
    database: fresh.url,
    drop: async () => {
      await fresh.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A Router process on the shared storage (and, for several processes, a shared bus). */
export function startRouterOn(
  storage: SharedStorage,
  options: { port?: number; cluster?: { workerId: string; bus: ClusterBus } } = {},
): Promise<RunningRouter> {
  return startNodeRouter({
    dataDir: storage.dataDir,
    database: storage.database,
    port: options.port ?? 0,
    ...(options.cluster ? { cluster: options.cluster } : {}),
  });
}

export interface PamSetup {
  admin: VaultClient;
  gateway: RouterLink;
  gatewayUid: string;
  folder: string;
  config: string;
  user: string;
  /** Every `rotate` action the gateway received, in order. */
  rotations: ActionFrame['params'][];
}

/**
 * The first account (the administrator), an application with a shared folder, a gateway on it
 * that answers every `rotate` with ok, a pamConfiguration naming the gateway and a pamUser. The
 * gateway may reach the Router by another address (`gatewayServer`: a fault test's proxy).
 */
export async function pamSetup(url: string, email = 'admin@example.com', options: { gatewayServer?: string } = {}): Promise<PamSetup> {
  const transport = await VaultTransport.connect(url);
  await registerAccount(transport, email, 'admin master password');
  const admin = await VaultClient.login(transport, email, 'admin master password');
  const app = await admin.createApplication('PAM');
  const folder = await admin.addFolder('Infrastructure', { shared: true });
  await admin.shareFolderToApplication(app, folder, true);
  const [token] = await admin.addApplicationClients(app, { kind: 'gateway', name: 'gw-1', unlockIp: true });
  const gwConfig = await SecretsClient.redeemToken(token!.token);
  const rotations: ActionFrame['params'][] = [];
  const gateway = new RouterLink({
    server: options.gatewayServer ?? url,
    clientId: gwConfig.clientId,
    privateKey: gwConfig.privateKey,
    version: '0.1.0-test',
    logger: quiet,
    backoff: { baseMs: 50, capMs: 200 },
    onAction: async (frame) => {
      if (frame.action !== 'rotate') return { code: 'bad_request', message: `unexpected ${frame.action}` };
      rotations.push(frame.params);
      return { code: 'ok', data: { jobUid: frame.params['jobUid'] } };
    },
  });
  gateway.start();
  await gateway.whenOnline();
  const config = await admin.addRecord(
    newRecordData('pamConfiguration', 'Local', {
      environment: 'local',
      gatewayUid: gwConfig.deviceUid,
      applicationFolderUid: folder,
      features: { rotation: true },
    }),
    { folderUid: folder },
  );
  const user = await admin.addRecord(newRecordData('pamUser', 'svc', { login: 'svc', password: 'old-canary' }), { folderUid: folder });
  return { admin, gateway, gatewayUid: gwConfig.deviceUid, folder, config, user, rotations };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
