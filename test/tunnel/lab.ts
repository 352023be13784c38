/**
 * A tunnel lab: a real Router that hands out TURN credentials for a real Relay (Postern's UDP
 * TURN server on loopback), an administrator with the real `postern` CLI, a real
 * `postern-gateway` process, a PAM configuration with tunneling on, and resources pointing at
 * real TCP servers. `tunnel()` runs `postern tunnel start … --json` and hands back the local
 * address once it is ready, plus every event the CLI printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { newRecordData, type RecordData } from '../../core/records/index.ts';
import type { VaultClient } from '../../core/vault-client/index.ts';
import { startUdpTurnServer, type UdpTurnServer } from '../../relay/adapters/node/udp-turn.ts';
import { peerPolicy } from '../../relay/policy/peer-address.ts';
import { startNodeRouter, type RunningRouter } from '../../router/adapters/node/index.ts';
import { CliUser, REPO } from '../cli/support.ts';
import { provisionGateway, removeDir, startConnectedGateway, tempHome, type GatewayProcess } from '../gateway/support.ts';

const TSX_LOADER = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
const CLI_BIN = join(REPO, 'vault/cli/bin.ts');

export interface TunnelEvent {
  event: 'ready' | 'path' | 'open' | 'close' | 'closed';
  [key: string]: unknown;
}

export interface RunningTunnel {
  child: ChildProcess;
  host: string;
  port: number;
  events: TunnelEvent[];
  stderr(): string;
  /** Resolves with the exit code once the CLI has exited. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** On loopback the gateway's and the CLI's relayed addresses are 127.0.0.1: allow exactly that. */
function startRelay(secret: string, port: number): Promise<UdpTurnServer> {
  return startUdpTurnServer({ host: '127.0.0.1', port, realm: 'postern.test', authSecret: secret, peerPolicy: peerPolicy(['127.0.0.1/32']) });
}

export class TunnelLab {
  readonly gatewayHome = tempHome('postern-tunnel-gw-');
  gateway: GatewayProcess | null = null;
  deviceUid = '';
  folderUid = '';
  configurationUid = '';
  private readonly tunnels: RunningTunnel[] = [];

  private constructor(
    readonly router: RunningRouter,
    readonly routerDir: string,
    private relayServer: UdpTurnServer,
    private readonly relaySecret: string,
    readonly admin: CliUser,
    readonly vault: VaultClient,
  ) {}

  get relay(): UdpTurnServer {
    return this.relayServer;
  }

  /** The Relay process restarted: a new server on the same port and secret, with none of the old allocations. */
  async restartRelay(): Promise<void> {
    const port = this.relayServer.address.port;
    await this.relayServer.close();
    this.relayServer = await startRelay(this.relaySecret, port);
  }

  static async start(name: string, options: { tunneling?: boolean } = {}): Promise<TunnelLab> {
    const secret = toBase64Url(randomBytes(32));
    const relay = await startRelay(secret, 0);
    const routerDir = mkdtempSync(join(tmpdir(), 'postern-tunnel-router-'));
    const router = await startNodeRouter({
      dataDir: routerDir,
      port: 0,
      relay: { urls: [`turn:127.0.0.1:${relay.address.port}?transport=udp`], secret },
    });
    const admin = new CliUser(router.url, `${name}-admin@example.com`);
    await admin.registerWithSdk();
    const vault = await admin.loginWithSdk();
    const lab = new TunnelLab(router, routerDir, relay, secret, admin, vault);
    const provisioned = await provisionGateway(vault, name, lab.gatewayHome, {
      folderCanEdit: false,
      configuration: { features: { tunneling: options.tunneling ?? true }, portMapping: ['2222=ssh'] },
    });
    lab.folderUid = provisioned.folderUid;
    lab.deviceUid = provisioned.deviceUid;
    lab.configurationUid = provisioned.configurationUid;
    return lab;
  }

  async startGateway(): Promise<GatewayProcess> {
    await this.stopGateway();
    const gateway = await startConnectedGateway(this.gatewayHome, () => this.router.router.hub.isConnectedHere(this.deviceUid));
    this.gateway = gateway;
    return gateway;
  }

  async stopGateway(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.gateway) await this.gateway.stop(signal);
    this.gateway = null;
  }

  /** A resource in the gateway's folder, bound to the lab's PAM configuration. */
  addResource(type: 'pamMachine' | 'pamDatabase', title: string, host: string, port: number, extra: Record<string, unknown> = {}): Promise<string> {
    const data: RecordData = newRecordData(type, title, { hostname: host, port, pamSettings: { configurationUid: this.configurationUid }, ...extra });
    return this.vault.addRecord(data, { folderUid: this.folderUid });
  }

  /** `postern tunnel start RECORD --json ARGS…`; resolves once it prints "ready" (rejects if it exits first). */
  async tunnel(record: string, args: string[] = [], readyTimeoutMs = 60_000): Promise<RunningTunnel> {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI_BIN, '--server', this.router.url, '--json', 'tunnel', 'start', record, ...args], {
      cwd: REPO,
      env: { ...process.env, POSTERN_HOME: this.admin.home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: TunnelEvent[] = [];
    let stderr = '';
    let buffer = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const ready = new Promise<TunnelEvent>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buffer += d;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (!line.trim()) continue;
          const event = JSON.parse(line) as TunnelEvent;
          events.push(event);
          if (event.event === 'ready') resolve(event);
        }
      });
      void exited.then((code) => reject(new Error(`postern tunnel start exited ${code} before it was ready\n${stderr}`)));
    });
    const event = await Promise.race([
      ready,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`postern tunnel start was not ready after ${readyTimeoutMs / 1000} s\n${stderr}`)), readyTimeoutMs).unref(),
      ),
    ]).catch((err: Error) => {
      child.kill('SIGKILL');
      throw err;
    });
    const listen = String(event['listen']);
    const colon = listen.lastIndexOf(':');
    const running: RunningTunnel = {
      child,
      host: listen.slice(0, colon).replace(/^\[|\]$/g, ''),
      port: Number(listen.slice(colon + 1)),
      events,
      stderr: () => stderr,
      exited,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      },
    };
    this.tunnels.push(running);
    return running;
  }

  async close(): Promise<void> {
    await Promise.all(this.tunnels.map((t) => t.stop().catch(() => null)));
    await this.stopGateway().catch(() => {});
    await this.router.close();
    await this.relay.close();
    this.admin.cleanup();
    removeDir(this.gatewayHome);
    rmSync(this.routerDir, { recursive: true, force: true });
  }
}
