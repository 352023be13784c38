/**
 * `postern-gateway start`: load the configuration, open the logs, connect to the Router and
 * serve actions until SIGTERM / SIGINT (or `quit` at the shell). On a terminal, and unless
 * `--service` or `--no-shell`, a small shell runs in the foreground (see ../shell.ts).
 */
import { configSource, describeSource, GATEWAY_CONFIG_ENV, loadGatewayConfig, logDirectory } from '../config.ts';
import { createGatewayLog, type ConsoleMode, type GatewayLog } from '../logging/logger.ts';
import { SecretScrubber } from '../logging/scrubber.ts';
import { checkConfigHidden, resolveScriptUser } from '../rotation/script-user.ts';
import { GatewayService, type LinkTuning } from '../service.ts';
import { GatewayShell } from '../shell.ts';
import { GATEWAY_VERSION } from '../version.ts';
import { EXIT_ERROR, EXIT_OK, printable, type GatewayIo } from './io.ts';

export interface StartOptions {
  debug?: boolean;
  config?: string;
  service?: boolean;
  /** commander's `--no-shell` sets this to false. */
  shell?: boolean;
  console?: ConsoleMode | 'auto';
  logDir?: string;
  heartbeatTimeout?: number;
  /** The account post-rotation scripts run as when the gateway is root. */
  scriptUser?: string;
  /** Seconds a post-rotation script may run. */
  scriptTimeout?: number;
}

export interface StartHooks {
  /** Where SIGINT/SIGTERM are listened for (the process by default). */
  signals?: Pick<NodeJS.Process, 'on' | 'off'>;
  link?: LinkTuning;
  onStarted?: (service: GatewayService, log: GatewayLog) => void;
}

export async function startGateway(options: StartOptions, io: GatewayIo, hooks: StartHooks = {}): Promise<number> {
  const scrubber = new SecretScrubber();
  const source = configSource(options, io.env);
  const config = loadGatewayConfig(source, io.env);
  // Nothing this process starts later (post-rotation scripts, helpers) inherits the keys.
  if (source.kind === 'env') delete io.env[GATEWAY_CONFIG_ENV];
  // Before anything connects: a script account that could read the keys is a refusal to start.
  const scriptUser = resolveScriptUser(options.scriptUser);
  const configWarning = source.kind === 'file' ? checkConfigHidden(scriptUser, source.path) : null;

  const interactive = options.shell !== false && options.service !== true && io.tty.stdin && io.tty.stdout;
  const consoleMode: ConsoleMode = options.console && options.console !== 'auto' ? options.console : io.tty.stderr ? 'pretty' : 'none';
  const log = createGatewayLog({
    dir: logDirectory(options, io.env),
    level: options.debug ? 'debug' : 'info',
    console: consoleMode,
    consoleStream: io.stderr,
    scrubber,
  });
  const logger = log.logger;

  const service = new GatewayService({
    config,
    version: GATEWAY_VERSION,
    logger,
    scrubber,
    scripts: { runAs: scriptUser, ...(options.scriptTimeout !== undefined ? { timeoutMs: Math.round(options.scriptTimeout * 1000) } : {}) },
    link: { ...(options.heartbeatTimeout !== undefined ? { heartbeatTimeoutMs: Math.round(options.heartbeatTimeout * 1000) } : {}), ...hooks.link },
  });

  io.stderr.write(
    `${printable(`postern-gateway ${GATEWAY_VERSION}: gateway ${config.deviceUid}, Router ${config.server}, configuration ${describeSource(source)}, logs ${log.file ?? '(none)'}`)}\n`,
  );

  if (configWarning) logger.warn({ scriptUser: scriptUser.name }, configWarning);
  logger.info({ scriptUser: scriptUser.name, separate: scriptUser.separate }, 'post-rotation scripts run as this account');

  const signals = hooks.signals ?? process;
  let shell: GatewayShell | null = null;

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (reason: string, code: number) => {
      if (stopping) return;
      stopping = true;
      shell?.close();
      try {
        await service.stop(reason);
      } catch (err) {
        logger.error({ err: scrubber.scrubError(err) }, 'error while stopping');
      }
      signals.off('SIGINT', onSignal);
      signals.off('SIGTERM', onSignal);
      process.off('uncaughtException', onFatal);
      process.off('unhandledRejection', onFatal);
      await log.close();
      resolve(code);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second Ctrl-C: the person wants out now.
        process.exit(130);
      }
      void stop(signal, EXIT_OK);
    };
    // Node would print these to stderr unscrubbed; log them through the scrubber instead.
    const onFatal = (err: unknown) => {
      logger.fatal({ err: scrubber.scrubError(err) }, 'unexpected error; the gateway stops');
      io.stderr.write(`postern-gateway: unexpected error: ${printable(scrubber.scrub(err instanceof Error ? err.message : String(err)))} (internal)\n`);
      void stop('unexpected error', EXIT_ERROR);
    };
    signals.on('SIGINT', onSignal);
    signals.on('SIGTERM', onSignal);
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);

    service.start();
    if (interactive) {
      shell = new GatewayShell(
        {
          status: () => service.status(),
          runningTasks: () => service.runningTasks(),
          recentTasks: () => service.recentTasks(),
          version: GATEWAY_VERSION,
          logLevel: () => log.level,
          setLogLevel: (level) => log.setLevel(level),
          quit: () => stop('quit from the shell', EXIT_OK),
        },
        { input: io.stdin, output: io.stdout as NodeJS.WritableStream, terminal: true },
      );
      shell.start();
    }
    hooks.onStarted?.(service, log);
  });
}
