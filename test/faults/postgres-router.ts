/**
 * A Router (`postern server start`, embedded role) on a fresh PostgreSQL database that it reaches
 * only through a TCP proxy the test controls, for the database fault tests.
 */
import { join } from 'node:path';
import { removeDir, tempDir } from '../cli/support.ts';
import { freshPostgresDatabase, startRouterProcess, stopProcess, type RouterProcess } from '../cluster/support.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export interface RouterBehindProxy {
  router: RouterProcess;
  /** Between the Router and PostgreSQL. */
  proxy: TcpProxy;
  close(): Promise<void>;
}

export async function routerBehindPostgresProxy(baseUrl: string, prefix: string): Promise<RouterBehindProxy> {
  const root = tempDir(prefix);
  const fresh = await freshPostgresDatabase(baseUrl);
  const real = new URL(fresh.url);
  const proxy = await startTcpProxy({ host: real.hostname, port: Number(real.port || 5432) });
  const proxied = new URL(fresh.url);
  proxied.hostname = proxy.host;
  proxied.port = String(proxy.port);
  const router = await startRouterProcess(['--data', join(root, 'data'), '--database', proxied.toString(), '--port', '0'], join(root, 'home'));
  return {
    router,
    proxy,
    close: async () => {
      await stopProcess(router);
      await proxy.close();
      await fresh.drop();
      removeDir(root);
    },
  };
}
