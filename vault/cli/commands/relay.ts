/**
 * `postern relay start`: the TURN relay (RFC 8656) on its own, in the foreground, for a
 * deployment that runs it on a separate machine from the Router (the embedded relay of
 * `postern server start` is the same code). UDP always; TCP and TLS when asked; a metrics
 * endpoint on loopback when asked. The shared secret comes from a file or the environment,
 * never from a flag (flags show up in `ps`), and is never printed or logged.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { PosternError, UsageError } from '../../../core/errors.ts';
import { contextOf } from '../context.ts';
import { collect, integerIn } from '../flags.ts';
import type { CliIo } from '../output.ts';
import { readRelaySecretFile } from '../relay-secret.ts';
import { stopSignal } from '../signals.ts';

interface StartOptions {
  host: string;
  port: number;
  tcpPort?: number;
  tlsPort?: number;
  cert?: string;
  key?: string;
  relayIp?: string[];
  publicHost?: string;
  metricsPort?: number;
  metricsHost: string;
  realm: string;
  secretFile?: string;
  allow?: string[];
  maxAllocations: number;
  maxAllocationsTotal: number;
  verbose?: boolean;
}

const SECRET_ENV = 'POSTERN_RELAY_SECRET';

function ipFlag(value: string, previous: string[] | undefined): string[] {
  const v = value.trim();
  if (!/^[0-9a-fA-F:.]+$/.test(v) || (!v.includes('.') && !v.includes(':')))
    throw new InvalidArgumentError('Expected an IPv4 or IPv6 address of this machine.');
  return collect(v, previous);
}

function cidrFlag(value: string, previous: string[] | undefined): string[] {
  const v = value.trim();
  if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(v)) throw new InvalidArgumentError('Expected an address or CIDR, e.g. 10.20.0.0/16 or fd00:1::/64.');
  return collect(v, previous);
}

/** The shared secret: the file's content without its trailing newline, or $POSTERN_RELAY_SECRET. */
function readSecret(options: StartOptions, io: CliIo, warn: (t: string) => void): string {
  if (options.secretFile) return readRelaySecretFile(options.secretFile, '--secret-file', warn);
  const env = io.env[SECRET_ENV];
  if (env) return env;
  throw new UsageError(
    `The relay needs the shared secret the Router signs TURN credentials with: pass --secret-file FILE or set ${SECRET_ENV}. ` +
      'To make one: umask 077; openssl rand -base64 32 > relay-secret (and give the Router the same one).',
  );
}

export function registerRelayCommands(program: Command, io: CliIo): void {
  const relay = program.command('relay').description('Run the Postern TURN relay (WebRTC traffic between vaults and gateways) on this machine.');

  relay
    .command('start')
    .description(
      'Start the TURN relay in the foreground: UDP on --port, and TCP / TLS when their ports are given. ' +
        'It accepts only short-lived credentials signed with the shared secret, and by default relays only to public addresses. Stop with Ctrl-C or SIGTERM.',
    )
    .option('--host <addr>', 'address to listen on; also the relayed address unless --relay-ip is given', '127.0.0.1')
    .addOption(new Option('--port <n>', 'UDP port (0 picks a free one)').default(3478).argParser(integerIn(0, 65535)))
    .addOption(new Option('--tcp-port <n>', 'also serve TURN over TCP on this port (3478 is usual)').argParser(integerIn(0, 65535)))
    .addOption(
      new Option('--tls-port <n>', 'also serve TURN over TLS (turns:) on this port (5349 is usual); needs --cert and --key').argParser(integerIn(0, 65535)),
    )
    .option('--cert <file>', 'PEM certificate chain for --tls-port')
    .option('--key <file>', 'PEM private key for --tls-port (keep it mode 0600)')
    .option(
      '--relay-ip <addr>',
      'address relayed sockets bind to and peers send to; one IPv4 and/or one IPv6 (repeat); required when --host is 0.0.0.0 or ::',
      ipFlag,
    )
    .option('--public-host <name>', 'host name clients are given in the turn: URLs (default: --host)')
    .addOption(new Option('--metrics-port <n>', 'serve /metrics (Prometheus) and /healthz over HTTP on this port').argParser(integerIn(0, 65535)))
    .option('--metrics-host <addr>', 'address of the metrics endpoint; keep it loopback or a private network', '127.0.0.1')
    .option('--realm <realm>', 'TURN realm, part of every credential; the Router must use the same', 'postern')
    .option('--secret-file <file>', `file holding the shared secret (else $${SECRET_ENV}); at least 16 bytes, mode 0600`)
    .option(
      '--allow <cidr>',
      'let the relay reach this non-public range (repeat); loopback, private, link-local and metadata addresses are refused otherwise',
      cidrFlag,
    )
    .addOption(
      new Option('--max-allocations <n>', 'concurrent allocations per account or gateway, however many credentials it holds')
        .default(100)
        .argParser(integerIn(1, 100000)),
    )
    .addOption(
      new Option('--max-allocations-total <n>', 'concurrent allocations of the whole relay (each is one or two UDP sockets: keep it under the open-file limit)')
        .default(1000)
        .argParser(integerIn(1, 1000000)),
    )
    .option('--verbose', 'log every allocation and refusal (JSON lines on stderr); warnings are always logged')
    .addHelpText(
      'after',
      `
Credentials are the TURN REST kind (coturn's use-auth-secret): the Router issues
"<expiry>:<user>" with an HMAC password; the relay keeps no user table. Give the Router and
the relay the same secret and realm.

A TURN relay that forwards anywhere is a way into the network it runs in. Only list with
--allow the ranges gateways really need to be reached on, never the metadata address.

Examples:
  $ postern relay start --secret-file /etc/postern/relay-secret
  $ postern relay start --host 203.0.113.7 --port 3478 --tcp-port 3478 --secret-file /etc/postern/relay-secret
  $ postern relay start --host 0.0.0.0 --relay-ip 203.0.113.7 --relay-ip 2001:db8::7 --public-host relay.example.com \\
      --tls-port 5349 --cert /etc/postern/relay.crt --key /etc/postern/relay.key --metrics-port 9641 --secret-file /etc/postern/relay-secret
  $ POSTERN_RELAY_SECRET=… postern relay start --allow 10.20.0.0/16`,
    )
    .action(async (options: StartOptions, command: Command) => {
      const ctx = contextOf(command, io);
      if (options.tlsPort !== undefined && (!options.cert || !options.key)) throw new UsageError('--tls-port needs --cert FILE and --key FILE (PEM).');
      if (options.tlsPort === undefined && (options.cert || options.key))
        throw new UsageError('--cert and --key are for --tls-port; add --tls-port 5349 to serve TURN over TLS.');
      const relayIps: { ipv4?: string; ipv6?: string } = {};
      for (const ip of options.relayIp ?? []) {
        const family = ip.includes(':') ? 'ipv6' : 'ipv4';
        if (relayIps[family]) throw new UsageError(`--relay-ip: one ${family === 'ipv6' ? 'IPv6' : 'IPv4'} address at most.`);
        relayIps[family] = ip;
      }
      const secret = readSecret(options, io, (t) => ctx.out.warn(t));
      let tls: { cert: Buffer; key: Buffer } | undefined;
      if (options.tlsPort !== undefined) {
        const read = (flag: string, file: string): Buffer => {
          try {
            return readFileSync(resolve(file));
          } catch (e) {
            throw new PosternError('not_found', `Cannot read ${flag} ${resolve(file)} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
          }
        };
        tls = { cert: read('--cert', options.cert!), key: read('--key', options.key!) };
      }
      const log = (level: 'info' | 'warn', event: string, fields: Record<string, unknown>): void => {
        if (level === 'info' && !options.verbose) return;
        io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
      };
      // Loaded here, not at the top: the relay is not needed by every other command.
      const { startRelay } = await import('../../../relay/adapters/node/relay-service.ts');
      let relay: Awaited<ReturnType<typeof startRelay>>;
      try {
        relay = await startRelay({
          host: options.host,
          udpPort: options.port,
          tcpPort: options.tcpPort,
          tlsPort: options.tlsPort,
          tls,
          relayIps: options.relayIp?.length ? relayIps : undefined,
          publicHost: options.publicHost,
          metricsPort: options.metricsPort,
          metricsHost: options.metricsHost,
          realm: options.realm,
          authSecret: secret,
          allow: options.allow ?? [],
          limits: { maxAllocationsPerUser: options.maxAllocations, maxAllocations: options.maxAllocationsTotal },
          log,
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE')
          throw new PosternError(
            'conflict',
            `A relay port on ${options.host} is already in use (another relay, or coturn?); choose others with --port / --tcp-port / --tls-port / --metrics-port.`,
          );
        if (code === 'EADDRNOTAVAIL') throw new PosternError('bad_request', `${options.host} (or a --relay-ip) is not an address of this machine.`);
        if (code === 'EACCES') throw new PosternError('not_allowed', 'Ports below 1024 need root or CAP_NET_BIND_SERVICE.');
        if (err instanceof Error && /PEM|certificate|key/i.test(err.message) && tls)
          throw new PosternError('bad_request', `--cert / --key could not be used: ${err.message}`);
        throw err;
      }
      if (/^(127\.|::1$)/.test(options.host))
        ctx.out.warn(`Listening on ${options.host} only: clients on other machines cannot reach this relay (use --host).`);
      if (options.allow?.length) ctx.out.warn(`Peers in ${options.allow.join(', ')} can be reached through this relay by anyone holding credentials.`);
      const info = {
        urls: relay.urls(),
        listeners: relay.listeners,
        realm: options.realm,
        allow: options.allow ?? [],
        metrics: relay.metricsUrl ? `${relay.metricsUrl}/metrics` : null,
        pid: process.pid,
      };
      // Listen for the stop signal before saying we are up: whoever reads that line may stop us at once.
      const stopping = stopSignal();
      ctx.out.result(info, () => {
        ctx.out.line('Postern relay listening');
        for (const url of info.urls) ctx.out.line(`  ${url}`);
        ctx.out.line(`  realm     ${info.realm}`);
        ctx.out.line(`  allow     ${info.allow.length ? info.allow.join(', ') : '(public addresses only)'}`);
        if (info.metrics) ctx.out.line(`  metrics   ${info.metrics}`);
        ctx.out.line('Press Ctrl-C to stop.');
      });
      const signal = await stopping;
      ctx.out.notice(`Received ${signal}; stopping the relay… (repeat to force)`);
      void stopSignal().then(() => process.exit(130));
      await relay.close();
      ctx.out.notice('Relay stopped.');
    });
}
