/**
 * `postern server start`: the embedded Router (vault API, Secrets Manager API, audit log) in
 * the foreground, on SQLite by default.
 */
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { PosternError } from '../../../core/errors.ts';
import { ensureHome } from '../config.ts';
import { contextOf } from '../context.ts';
import { integerIn } from '../flags.ts';
import type { CliIo } from '../output.ts';

interface StartOptions {
  data?: string;
  port: number;
  host: string;
  database?: string;
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

/** Resolves when the process is asked to stop (Ctrl-C, `kill`, systemd). */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      done(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
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
    .option('--database <url>', 'a SQLite file path or a postgres:// URL (default: <data>/postern.db)')
    .addHelpText(
      'after',
      `
The Router listens on plain HTTP. Requests are end-to-end encrypted to the Router key, but
expose it beyond loopback only behind a TLS-terminating proxy.

Examples:
  $ postern server start
  $ postern server start --data /var/lib/postern --port 8443 --host 0.0.0.0
  $ postern server start --database postgres://postern@db.internal/postern`,
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
      // Loaded here, not at the top: the Router (SQLite, pg, pino, hono) costs every other command ~0.5 s of startup.
      const { startNodeRouter, ROUTER_KEY_FILE } = await import('../../../router/adapters/node/index.ts');
      let router: Awaited<ReturnType<typeof startNodeRouter>>;
      try {
        router = await startNodeRouter({ dataDir, port: options.port, host: options.host, database });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new PosternError('conflict', `Port ${options.port} on ${options.host} is already in use (another Router?); choose another with --port.`);
        if (code === 'EADDRNOTAVAIL') throw new PosternError('bad_request', `--host ${options.host} is not an address of this machine.`);
        throw err;
      }
      if (!/^(127\.|localhost$|::1$)/.test(options.host)) {
        ctx.out.warn(`Listening on ${options.host} over plain HTTP: put a TLS-terminating proxy in front before anyone connects from another machine.`);
      }
      const info = {
        url: router.url,
        dataDir,
        database: redactDatabaseUrl(database),
        logs: join(dataDir, 'logs', 'router.log'),
        routerKey: join(dataDir, ROUTER_KEY_FILE),
        pid: process.pid,
      };
      ctx.out.result(info, () => {
        ctx.out.line(`Postern Router listening on ${router.url}`);
        ctx.out.line(`  data      ${dataDir}`);
        ctx.out.line(`  database  ${info.database}`);
        ctx.out.line(`  logs      ${info.logs}`);
        ctx.out.line(`  key       ${info.routerKey} (back it up: clients pin its public half)`);
        ctx.out.line('Press Ctrl-C to stop.');
      });
      const signal = await stopSignal();
      ctx.out.notice(`Received ${signal}; stopping the Router… (repeat to force)`);
      void stopSignal().then(() => process.exit(130));
      await router.close();
      ctx.out.notice('Router stopped.');
    });
}
