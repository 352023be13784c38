/**
 * `postern tunnel start | list | stop`: a local TCP port that reaches a resource behind its
 * gateway over WebRTC (vault/tunnel/session.ts), for any native client (psql, mysql, ssh, an
 * RDP client). `start` runs in the foreground and prints each connection as it opens and
 * closes; `list` and `stop` find the running ones through ~/.postern/tunnels/.
 */
import { Option, type Command } from 'commander';
import { PosternError, UsageError } from '../../../core/errors.ts';
import type { TunnelTarget } from '../../../core/tunnel/mux.ts';
import { listTunnels, registerTunnel } from '../../tunnel/registry.ts';
import { ensureHome } from '../config.ts';
import { contextOf, type CliContext } from '../context.ts';
import { integerIn } from '../flags.ts';
import { isoTime, type CliIo } from '../output.ts';
import { resolveRecordUid } from '../resolve.ts';
import { withVault } from '../session.ts';
import { actionFailure } from './job.ts';
import { stopSignal } from '../signals.ts';

interface StartOptions {
  port?: number;
  host: string;
  config?: string;
  remote?: string;
  relayOnly?: boolean;
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `host:port` or `[v6]:port` → a target, for --remote. */
export function parseRemote(value: string): TunnelTarget {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(value.trim()) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`--remote "${value}" is not HOST:PORT (e.g. db1.internal:5432 or [fd00::5]:22).`);
  return { host: m[1]!, port };
}

const show = (t: TunnelTarget) => (t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

async function start(ctx: CliContext, record: string, options: StartOptions): Promise<void> {
  const remote = options.remote ? parseRemote(options.remote) : undefined;
  // Loaded here, not at the top: WebRTC (werift) would cost every other command its start-up time.
  const [{ openTunnelSession, TunnelRefused }, { startTunnelListener }] = await Promise.all([
    import('../../tunnel/session.ts'),
    import('../../tunnel/local-listener.ts'),
  ]);
  await withVault(ctx, async (vault) => {
    const resourceUid = await resolveRecordUid(vault, record, { flag: 'RECORD', types: ['pamMachine', 'pamDatabase', 'pamDirectory'] });
    const configurationUid = options.config ? await resolveRecordUid(vault, options.config, { flag: '--config', types: ['pamConfiguration'] }) : undefined;
    const title = (await vault.getRecord(resourceUid)).data.title;
    const session = await openTunnelSession(vault, {
      resourceUid,
      configurationUid,
      relayOnly: options.relayOnly,
      // With --json, stderr carries only the error document.
      progress: (line) => (ctx.out.json ? undefined : ctx.out.notice(`… ${line}`)),
    }).catch((err: unknown) => {
      throw err instanceof TunnelRefused ? actionFailure(err.outcome, 'The gateway did not open the tunnel') : err;
    });
    let listener: Awaited<ReturnType<typeof startTunnelListener>>;
    try {
      listener = await startTunnelListener({
        mux: session.mux,
        host: options.host,
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(remote ? { target: remote } : {}),
      });
    } catch (err) {
      await session.close('the local listener could not start');
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE')
        throw new PosternError(
          'conflict',
          `Port ${options.port} on ${options.host} is in use; choose another with --port, or leave it out for the first free one from 49152.`,
        );
      if (code === 'EADDRNOTAVAIL') throw new PosternError('bad_request', `--host ${options.host} is not an address of this machine.`);
      throw err;
    }
    const target = remote ?? session.target;
    ensureHome(ctx.home);
    const unregister = registerTunnel(ctx.home, {
      pid: process.pid,
      resourceUid,
      title,
      listen: listener.address,
      target: show(target),
      server: vault.session.server,
      startedAt: Date.now(),
    });
    // Listen for the stop signal before saying we are ready: whoever reads that line may stop us at once.
    const stopping = stopSignal().then((s) => `stopped (${s})`);
    const json = ctx.out.json;
    // A human rendering of several lines is given as lines: each is made printable on its own, so
    // a newline in a record's title stays escaped while ours are real line breaks.
    const event = (value: Record<string, unknown>, human: string | readonly string[]) => {
      if (json) ctx.out.raw(`${JSON.stringify({ at: new Date().toISOString(), ...value })}\n`);
      else for (const line of typeof human === 'string' ? [human] : human) ctx.out.line(line);
    };
    const relayOnly = options.relayOnly === true;
    event({ event: 'ready', listen: listener.address, target: show(target), resourceUid, sessionId: session.sessionId, path: session.path(), relayOnly }, [
      `Tunnel to "${title}" (${show(target)}) is ready: connect to ${listener.address}`,
      `  path ${session.path()}${relayOnly ? ' (--relay-only: through the Relay, never direct)' : ''}, session ${session.sessionId}`,
      `  Ctrl-C (or \`postern tunnel stop ${resourceUid}\`) closes it.`,
    ]);
    const shownPath = session.path();
    void session.pathSettled.then((path) => {
      if (path !== shownPath) event({ event: 'path', path }, `  path ${path}`);
    });
    listener.onOpen((c) => event({ event: 'open', id: c.id, from: c.remote }, `+ ${c.remote} connected (connection ${c.id})`));
    listener.onClose((c) =>
      event(
        { event: 'close', id: c.id, from: c.remote, reason: c.reason, message: c.message, bytesIn: c.bytesIn, bytesOut: c.bytesOut },
        `- ${c.remote} closed (${c.reason}${c.message ? `: ${c.message}` : ''}): sent ${bytesText(c.bytesOut)}, received ${bytesText(c.bytesIn)}`,
      ),
    );
    const ended = new Promise<string>((resolve) => listener.onMuxClosed((reason, message) => resolve(`${reason}${message ? `: ${message}` : ''}`)));
    // A live summary for a person watching; quiet when output goes to a file or --json.
    const tty = !json && (process.stderr as { isTTY?: boolean }).isTTY === true;
    const ticker = tty
      ? setInterval(() => {
          const live = listener.connections();
          const sent = live.reduce((a, c) => a + c.bytesOut, 0);
          const received = live.reduce((a, c) => a + c.bytesIn, 0);
          ctx.out.notice(`  ${live.length} open connection(s), ${bytesText(sent)} sent, ${bytesText(received)} received`);
        }, 10_000)
      : undefined;
    const why = await Promise.race([stopping, ended.then((r) => `the tunnel ended (${r})`)]);
    if (ticker) clearInterval(ticker);
    unregister();
    await listener.close();
    await session.close(why);
    event({ event: 'closed', why }, `Tunnel closed: ${why}.`);
    if (why.startsWith('the tunnel ended'))
      throw new PosternError('bad_state', `The tunnel to ${show(target)} ended: ${why.slice('the tunnel ended ('.length, -1)}. Local connections were closed.`);
  });
}

export function registerTunnelCommands(program: Command, io: CliIo): void {
  const tunnel = program.command('tunnel').description('Reach a resource behind its gateway from a local port (WebRTC, end-to-end encrypted signalling).');

  tunnel
    .command('start')
    .description("Open a local port that leads to RECORD's host and port through its gateway; runs until Ctrl-C.")
    .argument('<RECORD>', 'the pamMachine, pamDatabase or pamDirectory (UID or title)')
    .addOption(new Option('--port <n>', 'local port (default: the first free one from 49152)').argParser(integerIn(1, 65535)))
    .option('--host <address>', 'local address to listen on; anyone who can reach it can use the tunnel', '127.0.0.1')
    .option('--config <pamConfiguration>', 'the PAM configuration (default: the one the record names)')
    .option('--remote <host:port>', "ask for this target instead of the record's own (it must be the record's host with its port or a mapped port)")
    .option('--relay-only', "use only paths through the Router's Relay (TURN), never direct ones")
    .addHelpText(
      'after',
      `
Needs the "tunneling" feature on the PAM configuration and the start_tunnels policy. The gateway
dials only the record's host and port (or a port mapping of the PAM configuration); the
offer and answer are sealed with a key from the record, so the Router relays ciphertext.

Examples:
  $ postern tunnel start "orders db"                 # then: psql -h 127.0.0.1 -p 49152 …
  $ postern tunnel start web1 --port 2222             # then: ssh -p 2222 admin@127.0.0.1
  $ postern tunnel start web1 --json > tunnel.log     # one JSON event per line`,
    )
    .action(async (record: string, options: StartOptions, command: Command) => {
      const ctx = contextOf(command, io);
      if (options.host !== '127.0.0.1' && options.host !== '::1' && options.host !== 'localhost') {
        ctx.out.warn(`Listening on ${options.host}: anyone who can reach that address reaches ${record} through your session.`);
      }
      await start(ctx, record, options);
    });

  tunnel
    .command('list')
    .description('The tunnels running on this machine (started by this user).')
    .action((_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      const tunnels = listTunnels(ctx.home);
      ctx.out.result({ tunnels }, () =>
        ctx.out.table(
          ['PID', 'RECORD', 'TITLE', 'LISTEN', 'TARGET', 'STARTED'],
          tunnels.map((t) => [t.pid, t.resourceUid, t.title, t.listen, t.target, isoTime(t.startedAt)]),
          'No tunnels are running. Start one with `postern tunnel start RECORD`.',
        ),
      );
    });

  tunnel
    .command('stop')
    .description('Stop running tunnels: those to RECORD, the one with --pid, or --all.')
    .argument('[RECORD]', 'record UID or title as `tunnel list` shows it')
    .addOption(new Option('--pid <pid>', 'the tunnel process to stop').argParser(integerIn(1, 2 ** 31 - 1)))
    .option('--all', 'stop every tunnel on this machine')
    .action((record: string | undefined, options: { pid?: number; all?: boolean }, command: Command) => {
      const ctx = contextOf(command, io);
      if (!record && options.pid === undefined && !options.all) throw new UsageError('Name the tunnel: RECORD, --pid N, or --all (see `postern tunnel list`).');
      const chosen = listTunnels(ctx.home).filter(
        (t) => options.all || t.pid === options.pid || (record !== undefined && (t.resourceUid === record || t.title === record)),
      );
      if (chosen.length === 0) throw new PosternError('not_found', 'No running tunnel matches; `postern tunnel list` shows them.');
      for (const t of chosen) process.kill(t.pid, 'SIGTERM');
      ctx.out.result({ stopped: chosen.map((t) => t.pid) }, () => {
        for (const t of chosen) ctx.out.line(`Stopped the tunnel to "${t.title}" on ${t.listen} (pid ${t.pid}).`);
      });
    });
}
