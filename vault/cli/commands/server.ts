/**
 * `postern server start`: the embedded Router (vault API, Secrets Manager API, audit log) in
 * the foreground, on SQLite by default; or, to scale out, one Router process in a role: the
 * Head (rotation schedule, health check only) or a Worker (vault, devices, gateway
 * WebSockets), all sharing PostgreSQL and a NATS broker.
 */
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { PosternError, UsageError } from '../../../core/errors.ts';
import { parseCidr } from '../../../core/net/ip-address.ts';
import { DEFAULT_SERVER, ensureHome } from '../config.ts';
import { contextOf } from '../context.ts';
import { collect, integerIn } from '../flags.ts';
import { DEFAULT_RELAY_PORT, startEmbeddedRelay, type EmbeddedRelay } from '../embedded-relay.ts';
import { readRelaySecretFile } from '../relay-secret.ts';
import { stopSignal } from '../signals.ts';
import type { CliIo } from '../output.ts';

type Role = 'embedded' | 'head' | 'worker';
const ROLES: readonly Role[] = ['embedded', 'head', 'worker'];

interface StartOptions {
  data?: string;
  port: number;
  host: string;
  database?: string;
  role: Role;
  workerId?: string;
  nats?: string;
  relay: boolean;
  relayPort: number;
  relayHost?: string;
  relayPublicHost?: string;
  relayAllow?: string[];
  relayUrl?: string[];
  relaySecretFile?: string;
  trustedProxy?: string[];
  openRegistration?: boolean;
}

/** Same rule as router/http/sticky.ts: the id goes into a cookie and a NATS subject. */
const WORKER_ID = /^[A-Za-z0-9_-]{1,64}$/;

function workerIdFlag(value: string): string {
  const trimmed = value.trim();
  if (!WORKER_ID.test(trimmed)) throw new InvalidArgumentError('Expected 1 to 64 letters, digits, "_" or "-".');
  return trimmed;
}

/** `<hostname>-<pid>`, reduced to the characters a Worker id may hold. */
export function defaultWorkerId(host = hostname(), pid = process.pid): string {
  const name =
    host
      .split('.')[0]!
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'router';
  return `${name}-${pid}`;
}

/** A database URL as it may be shown: any password replaced. */
export function redactDatabaseUrl(value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) return value;
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

export function registerServerCommands(program: Command, io: CliIo): void {
  const server = program.command('server').description('Run the Postern Router (the server side) on this machine.');

  server
    .command('start')
    .description(
      'Start the Router in the foreground: the vault API, the Secrets Manager API for devices and gateways, and the audit log. ' +
        'Data (database, the Router key pair, logs) stays in --data; stop with Ctrl-C or SIGTERM.',
    )
    .option('--data <dir>', 'data directory (default: $POSTERN_HOME/server, i.e. ~/.postern/server)')
    .addOption(new Option('--port <n>', 'TCP port to listen on (0 picks a free one)').default(8080).argParser(integerIn(0, 65535)))
    .option('--host <host>', 'address to bind; keep 127.0.0.1 unless a TLS proxy fronts the Router', '127.0.0.1')
    .option('--database <url>', 'a SQLite file path or a postgres:// URL (default: <data>/postern.db; head and worker need PostgreSQL)')
    .addOption(
      new Option(
        '--role <role>',
        'embedded: Head and Worker in this one process; head: the rotation schedule only; worker: vault, devices and gateway connections',
      )
        .choices(ROLES)
        .default('embedded'),
    )
    .addOption(
      new Option('--worker-id <id>', "this process's id in the cluster, also the sticky cookie's value (default: <hostname>-<pid>)").argParser(workerIdFlag),
    )
    .addOption(new Option('--nats <url>', 'the NATS broker between Head and Workers, e.g. nats://127.0.0.1:4222 (head and worker)').env('POSTERN_NATS_URL'))
    .option('--no-relay', 'do not run the embedded Relay (TURN) next to the Router: tunnels then use direct paths only')
    .addOption(
      new Option('--relay-port <n>', 'UDP and TCP port of the embedded Relay (if the default is taken, a free one is used)')
        .default(DEFAULT_RELAY_PORT)
        .argParser(integerIn(0, 65535)),
    )
    .option('--relay-host <address>', 'address the embedded Relay binds to and relays from (default: --host)')
    .option('--relay-public-host <name>', 'the name or address clients are told to reach the Relay at (default: --relay-host)')
    .option(
      '--relay-allow <cidr>',
      'a non-public network the Relay may reach (repeatable; by default it refuses loopback, private and link-local peers)',
      collect,
    )
    .option('--relay-url <url>', 'use an external Relay (`postern relay start`) instead: its turn: URL (repeatable); needs --relay-secret-file', collect)
    .option('--relay-secret-file <file>', "the external Relay's shared secret (the file given to `postern relay start --secret-file`)")
    .option(
      '--trusted-proxy <cidr>',
      'a reverse proxy (address or CIDR range) whose X-Forwarded-For is believed (repeatable); the client is the right-most hop that is not a trusted proxy. Without it the header is ignored',
      collect,
    )
    .option('--open-registration', 'let anyone create an account; by default only the first account (the administrator) and invited ones can')
    .addHelpText(
      'after',
      `
The Router listens on plain HTTP. Requests are end-to-end encrypted to the Router key, but
expose it beyond loopback only behind a TLS-terminating proxy.

Scaling out: run one Head and any number of Workers, all with the same PostgreSQL database,
the same NATS broker and the same Router key (copy <data>/router-key.json into each
process's --data directory). Put the Workers behind a load balancer that keeps a vault on
the Worker named by the postern_worker cookie; gateways may connect to any Worker. The Head
is not for the internet: it serves only /healthz, on --host (default 127.0.0.1).

Examples:
  $ postern server start
  $ postern server start --data /var/lib/postern --port 8443 --host 0.0.0.0
  $ postern server start --host 10.0.0.8 --trusted-proxy 10.0.0.2 --trusted-proxy 10.0.1.0/24
  $ postern server start --database postgres://postern@db.internal/postern
  $ postern server start --role head --database postgres://postern@db.internal/postern --nats nats://10.0.0.5:4222 --port 8090
  $ postern server start --role worker --worker-id w1 --database postgres://postern@db.internal/postern --nats nats://10.0.0.5:4222`,
    )
    .action(async (options: StartOptions, command: Command) => {
      const ctx = contextOf(command, io);
      let dataDir: string;
      if (options.data) {
        dataDir = resolve(options.data);
      } else {
        ensureHome(ctx.home);
        dataDir = join(ctx.home, 'server');
      }
      const database = options.database ?? join(dataDir, 'postern.db');
      const role = options.role;
      const clustered = role !== 'embedded';
      if (clustered) {
        if (!/^postgres(ql)?:\/\//.test(database)) {
          throw new UsageError(
            `--role ${role} needs PostgreSQL, shared by the Head and every Worker: pass --database postgres://USER@HOST/DB. ` +
              `SQLite (${options.database ? 'the file given' : 'the default'}) lives on one machine and serves only the embedded Router.`,
          );
        }
        if (!options.nats)
          throw new UsageError(`--role ${role} needs the NATS broker the Router processes talk through: pass --nats nats://HOST:4222 or set POSTERN_NATS_URL.`);
      } else if (options.nats && command.getOptionValueSource('nats') === 'cli') {
        throw new UsageError('--nats is for --role head or --role worker; the embedded Router keeps its messages in-process.');
      } else if (options.workerId) {
        throw new UsageError('--worker-id is for --role head or --role worker; the embedded Router is the only one.');
      }
      const workerId = options.workerId ?? defaultWorkerId();
      const trustedProxies = options.trustedProxy ?? [];
      for (const cidr of trustedProxies) {
        try {
          parseCidr(cidr);
        } catch {
          throw new UsageError(`--trusted-proxy ${JSON.stringify(cidr)} is not an address or CIDR range; write e.g. 10.0.0.0/8, 192.0.2.7 or fd00::/8.`);
        }
      }
      if ((options.relayUrl?.length ?? 0) > 0 !== (options.relaySecretFile !== undefined)) {
        throw new UsageError("--relay-url and --relay-secret-file go together: the Router signs TURN credentials with the external Relay's secret.");
      }
      // Relay: an external one when named; otherwise the embedded one (not on the Head, which serves no clients).
      let embeddedRelay: EmbeddedRelay | null = null;
      let relayConfig: { urls: string[]; secret: string } | undefined;
      if (options.relayUrl?.length) {
        relayConfig = { urls: options.relayUrl, secret: readRelaySecretFile(options.relaySecretFile!, '--relay-secret-file', (t) => ctx.out.warn(t)) };
      } else if (options.relay && role === 'embedded') {
        const relayHost = options.relayHost ?? options.host;
        if (relayHost === '0.0.0.0' || relayHost === '::') {
          throw new UsageError(
            `The embedded Relay needs a real address of this machine to relay from (peers are told it): pass --relay-host ADDRESS (and --relay-public-host NAME if clients reach it by another name), or --no-relay.`,
          );
        }
        try {
          embeddedRelay = await startEmbeddedRelay({
            dataDir,
            host: relayHost,
            port: options.relayPort,
            fallback: command.getOptionValueSource('relayPort') === 'default',
            publicHost: options.relayPublicHost,
            allow: options.relayAllow ?? [],
          });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE')
            throw new PosternError(
              'conflict',
              `Relay port ${options.relayPort} on ${relayHost} is already in use; choose another with --relay-port, or --no-relay.`,
            );
          if (code === 'EADDRNOTAVAIL') throw new PosternError('bad_request', `--relay-host ${relayHost} is not an address of this machine.`);
          throw err;
        }
        relayConfig = { urls: embeddedRelay.urls, secret: embeddedRelay.secret };
        if (embeddedRelay.movedFrom !== undefined)
          ctx.out.warn(`Relay port ${embeddedRelay.movedFrom} is in use; the embedded Relay took free ports instead (${embeddedRelay.urls.join(', ')}).`);
      }
      // Loaded here, not at the top: the Router (SQLite, pg, pino, hono) costs every other command ~0.5 s of startup.
      const { startNodeRouter, ROUTER_KEY_FILE, NatsBus, redactNatsUrl } = await import('../../../router/adapters/node/index.ts');
      const bus = clustered ? await NatsBus.connect({ url: options.nats!, name: `postern-${role}-${workerId}` }) : null;
      let router: Awaited<ReturnType<typeof startNodeRouter>>;
      try {
        router = await startNodeRouter({
          dataDir,
          port: options.port,
          host: options.host,
          database,
          role,
          trustedProxies,
          ...(options.openRegistration ? { openRegistration: true } : {}),
          ...(bus ? { cluster: { workerId, bus } } : {}),
          ...(relayConfig ? { relay: relayConfig } : {}),
        });
      } catch (err) {
        await bus?.close();
        await embeddedRelay?.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE')
          throw new PosternError('conflict', `Port ${options.port} on ${options.host} is already in use (another Router?); choose another with --port.`);
        if (code === 'EADDRNOTAVAIL') throw new PosternError('bad_request', `--host ${options.host} is not an address of this machine.`);
        throw err;
      }
      if (!/^(127\.|localhost$|::1$)/.test(options.host)) {
        if (role === 'head')
          ctx.out.warn(
            `The Head's health check listens on ${options.host}: keep that an address of the private network, never one reachable from the internet.`,
          );
        else ctx.out.warn(`Listening on ${options.host} over plain HTTP: put a TLS-terminating proxy in front before anyone connects from another machine.`);
      }
      const info = {
        role,
        url: router.url,
        ...(clustered ? { workerId, nats: redactNatsUrl(options.nats!), healthz: `${router.url}/healthz` } : {}),
        dataDir,
        database: redactDatabaseUrl(database),
        logs: join(dataDir, 'logs', 'router.log'),
        routerKey: join(dataDir, ROUTER_KEY_FILE),
        relay: relayConfig ? { urls: relayConfig.urls, embedded: embeddedRelay !== null } : null,
        pid: process.pid,
      };
      // Listen for the stop signal before saying we are up: whoever reads that line may stop us at once.
      const stopping = stopSignal();
      ctx.out.result(info, () => {
        if (role === 'head') {
          ctx.out.line(`Postern Router Head ${workerId}: rotation schedule running; health check only on ${router.url}/healthz`);
          ctx.out.line('  (vaults, devices and gateways connect to the Workers, not to the Head)');
        } else if (role === 'worker') {
          ctx.out.line(`Postern Router Worker ${workerId} listening on ${router.url} (vault, devices, gateways)`);
        } else {
          ctx.out.line(`Postern Router listening on ${router.url}`);
        }
        if (clustered) ctx.out.line(`  nats      ${info.nats}`);
        ctx.out.line(`  data      ${dataDir}`);
        ctx.out.line(`  database  ${info.database}`);
        ctx.out.line(`  logs      ${info.logs}`);
        if (info.relay) ctx.out.line(`  relay     ${info.relay.urls.join(', ')}${info.relay.embedded ? ' (embedded; secret in relay-secret)' : ''}`);
        else if (role !== 'head') ctx.out.line('  relay     none (tunnels use direct paths only)');
        ctx.out.line(`  key       ${info.routerKey} (back it up: clients pin its public half${clustered ? '; every Head and Worker needs the same one' : ''})`);
        // A Router away from the CLI's default address: say the line that points `postern` at it.
        if (role !== 'head' && router.url !== DEFAULT_SERVER) ctx.out.line(`Clients on this machine: export POSTERN_SERVER=${router.url}`);
        ctx.out.line('Press Ctrl-C to stop.');
      });
      const signal = await stopping;
      ctx.out.notice(`Received ${signal}; stopping the Router… (repeat to force)`);
      void stopSignal().then(() => process.exit(130));
      await router.close();
      await embeddedRelay?.close();
      await bus?.close();
      ctx.out.notice('Router stopped.');
    });
}
