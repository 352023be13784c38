/**
 * Running the real `postern-gateway` binary as a child process, the way an administrator
 * would, with its own POSTERN_HOME; and the vault-side setup a gateway needs (an owner, an
 * application, a one-time gateway token).
 *
 * `node --import <tsx loader> gateway/cli/bin.ts` is used rather than `npx tsx` (half the
 * startup time), as in test/cli/support.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSX_LOADER = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
const BIN = join(REPO, 'gateway/cli/bin.ts');

export interface GatewayRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface GatewayProcess {
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** Resolves when the process has exited. */
  exited: Promise<GatewayRun>;
  /** SIGTERM (or another signal) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<GatewayRun>;
}

export function tempHome(prefix = 'postern-gw-home-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

function childEnv(home: string, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, POSTERN_HOME: home, NO_COLOR: '1' };
  delete env['GATEWAY_CONFIG'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function spawnGateway(args: string[], options: { home: string; env?: Record<string, string | undefined> }): GatewayProcess {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, BIN, ...args], {
    cwd: REPO,
    env: childEnv(options.home, options.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<GatewayRun>((done, fail) => {
    child.once('error', fail);
    child.once('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs a command to completion (`init`, `version`). */
export async function runGateway(args: string[], options: { home: string; env?: Record<string, string | undefined>; stdin?: string }): Promise<GatewayRun> {
  const p = spawnGateway(args, options);
  p.child.stdin!.end(options.stdin ?? '');
  return p.exited;
}

/** Fails the test with the output unless `run` exited 0. */
export function expectOk(run: GatewayRun, what: string): GatewayRun {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  return run;
}

export function logText(home: string): string {
  try {
    return readFileSync(join(home, 'logs', 'gateway.log'), 'utf8');
  } catch {
    return '';
  }
}

/** What a lab that drives a real gateway starts from (test/rotation/lab.ts, test/tunnel/lab.ts). */
export interface ProvisionedGateway {
  appUid: string;
  folderUid: string;
  deviceUid: string;
  configurationUid: string;
}

/**
 * An application with a shared folder, a gateway initialised in `home` with a one-time token,
 * and a pamConfiguration bound to both (`features`, plus any other configuration fields).
 */
export async function provisionGateway(
  vault: VaultClient,
  name: string,
  home: string,
  options: { folderCanEdit: boolean; configuration: Record<string, unknown> },
): Promise<ProvisionedGateway> {
  const appUid = await vault.createApplication(`${name} gateways`);
  const folderUid = await vault.addFolder(`${name} targets`, { shared: true });
  await vault.shareFolderToApplication(appUid, folderUid, options.folderCanEdit);
  const [issued] = await vault.addApplicationClients(appUid, { kind: 'gateway', name: `${name}-gw`, unlockIp: true });
  expectOk(await runGateway(['init', '--token', issued!.token], { home }), 'postern-gateway init');
  const deviceUid = issued!.deviceUid;
  const configurationUid = await vault.addRecord(
    newRecordData('pamConfiguration', `${name} PAM`, {
      environment: 'local',
      gatewayUid: deviceUid,
      applicationFolderUid: folderUid,
      ...options.configuration,
    }),
    { folderUid },
  );
  return { appUid, folderUid, deviceUid, configurationUid };
}

/** `postern-gateway start --no-shell`, resolved once the Router reports it connected (20 s at most). */
export async function startConnectedGateway(home: string, isConnected: () => boolean, env?: Record<string, string | undefined>): Promise<GatewayProcess> {
  const gateway = spawnGateway(['start', '--no-shell'], { home, ...(env ? { env } : {}) });
  const deadline = Date.now() + 20_000;
  while (!isConnected()) {
    if (Date.now() > deadline) {
      await gateway.stop();
      throw new Error(`the gateway did not connect\n${JSON.stringify(gateway.output())}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return gateway;
}

export interface Owner {
  client: VaultClient;
  appUid: string;
  /** A fresh one-time gateway token (and the gateway's device UID). */
  gatewayToken(name?: string): Promise<{ token: string; deviceUid: string }>;
}

export async function setupOwner(serverUrl: string, email: string): Promise<Owner> {
  const transport = await VaultTransport.connect(serverUrl);
  await registerAccount(transport, email, `${email} master password`);
  const client = await VaultClient.login(transport, email, `${email} master password`);
  const appUid = await client.createApplication('Gateways');
  return {
    client,
    appUid,
    async gatewayToken(name = 'gw') {
      const [issued] = await client.addApplicationClients(appUid, { kind: 'gateway', name, unlockIp: true });
      return { token: issued!.token, deviceUid: issued!.deviceUid };
    },
  };
}

/**
 * A TCP proxy in front of the Router that can "freeze" the connections it carries: the
 * sockets stay open but nothing passes either way, which is what a half-open connection
 * (a dead NAT entry, a hung peer, a pulled cable) looks like to both ends.
 */
export class FreezableProxy {
  readonly connections: { client: Socket; upstream: Socket; frozen: boolean; clientClosedAt: number | null }[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<FreezableProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new FreezableProxy(server, (server.address() as AddressInfo).port);
    server.on('connection', (client) => {
      const upstream = connect(target.port, target.host);
      const entry = { client, upstream, frozen: false, clientClosedAt: null as number | null };
      proxy.connections.push(entry);
      client.on('data', (d) => void (entry.frozen || upstream.write(d)));
      upstream.on('data', (d) => void (entry.frozen || client.write(d)));
      client.on('close', () => {
        entry.clientClosedAt = Date.now();
        upstream.destroy();
      });
      upstream.on('close', () => void (entry.frozen || client.destroy()));
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops all traffic on the connections open now; new connections pass normally. */
  freeze(): void {
    for (const c of this.connections) c.frozen = true;
  }

  async close(): Promise<void> {
    for (const c of this.connections) {
      c.client.destroy();
      c.upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}
