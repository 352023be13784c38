/**
 * The `postern-gateway` command line: `init`, `start`, `version`. Every failure becomes one
 * line on stderr and an exit code (0 ok, 1 error, 2 usage error).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CONFIG_FILE, GATEWAY_CONFIG_ENV, SERVICE_CONFIG_DIR, SERVICE_LOG_DIR } from '../config.ts';
import { GATEWAY_VERSION } from '../version.ts';
import type { InitOptions } from './init.ts';
import { EXIT_OK, EXIT_USAGE, processIo, reportError, type GatewayIo } from './io.ts';
import type { StartHooks, StartOptions } from './start.ts';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.3 || n > 300) throw new InvalidArgumentError('Expected a number of seconds from 0.3 to 300.');
  return n;
}

function scriptSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1 || n > 86_400) throw new InvalidArgumentError('Expected a number of seconds from 1 to 86400.');
  return n;
}

export function buildProgram(io: GatewayIo, hooks: StartHooks = {}, exit: { code: number } = { code: EXIT_OK }): Command {
  const program = new Command('postern-gateway');
  program
    .description(
      'The Postern Gateway: runs inside your network, connects out to the Postern Router, and performs rotations (and later discovery and connections) on your machines.',
    )
    .version(GATEWAY_VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: () => {},
    })
    .addHelpText(
      'after',
      `
Getting started:
  $ postern gateway create …                              # on an administrator's machine: prints a one-time token
  $ postern-gateway init --token <token>                  # here: registers this gateway's key, writes ~/.postern/${CONFIG_FILE}
  $ postern-gateway start                                 # connects to the Router; a small shell runs on a terminal

As a service (systemd unit in deploy/systemd/): init and start with --service; the configuration is
${SERVICE_CONFIG_DIR}/${CONFIG_FILE} and the logs are in ${SERVICE_LOG_DIR}/.
In a container: set ${GATEWAY_CONFIG_ENV} to the base64 of the configuration file (deploy/docker/).

Environment:
  ${GATEWAY_CONFIG_ENV}   the configuration, base64 (or JSON); used by \`start\` when --config is not given
  POSTERN_HOME     where the per-user configuration and logs live (default ~/.postern)`,
    );

  program
    .command('init')
    .description('Redeem a one-time gateway token: register a fresh device key with the Router and write the configuration (mode 0600).')
    .requiredOption('--token <token>', 'the one-time gateway token (from `postern gateway create`); "-" reads it from stdin')
    .option(
      '--config <file>',
      `where to write the configuration (default: $POSTERN_HOME/${CONFIG_FILE}, or ${SERVICE_CONFIG_DIR}/${CONFIG_FILE} with --service)`,
    )
    .option('--service', `write the service's configuration, ${SERVICE_CONFIG_DIR}/${CONFIG_FILE}`)
    .option('--server <url>', 'the Router URL, when the one in the token is not how this machine reaches it (e.g. behind a proxy)')
    .option('--force', 'replace an existing configuration file')
    .action(async (options: InitOptions) => {
      // Loaded on use, so `version` and `--help` start fast.
      const { initGateway } = await import('./init.ts');
      await initGateway(options, io);
    });

  program
    .command('start')
    .description('Connect to the Router and serve it until stopped (SIGTERM, Ctrl-C, or `quit` at the shell).')
    .option('-d, --debug', 'log at debug level')
    .option(
      '--config <file>',
      `the configuration file (default: $${GATEWAY_CONFIG_ENV}, then $POSTERN_HOME/${CONFIG_FILE}, or ${SERVICE_CONFIG_DIR}/${CONFIG_FILE} with --service)`,
    )
    .option('--service', `run as a service: ${SERVICE_CONFIG_DIR}/ configuration, logs in ${SERVICE_LOG_DIR}/, no shell`)
    .option('--no-shell', 'do not offer the interactive shell even on a terminal')
    .addOption(
      new Option('--console <mode>', 'log lines on stderr too: pretty, json (for `docker logs`), none; default pretty on a terminal, else none')
        .choices(['auto', 'pretty', 'json', 'none'])
        .default('auto'),
    )
    .option('--log-dir <dir>', `where gateway.log is written (default: $POSTERN_HOME/logs, or ${SERVICE_LOG_DIR} with --service)`)
    .option('--heartbeat-timeout <seconds>', 'declare the Router connection dead after this much silence (default 25)', seconds)
    .option(
      '--script-user <name>',
      'when running as root: the unprivileged account post-rotation scripts run as (default postern-script if it exists, else nobody)',
    )
    .option('--script-timeout <seconds>', 'stop a post-rotation script (and everything it started) after this long (default 300)', scriptSeconds)
    .action(async (options: StartOptions) => {
      const { startGateway } = await import('./start.ts');
      exit.code = await startGateway(options, io, hooks);
    });

  program
    .command('version')
    .description('Print the version.')
    .action(() => {
      io.stdout.write(`postern-gateway ${GATEWAY_VERSION}\n`);
    });

  return program;
}

/** Runs the CLI with `argv` as in `process.argv`; returns the exit code. */
export async function main(argv: string[], io: GatewayIo = processIo(), hooks: StartHooks = {}): Promise<number> {
  const exit = { code: EXIT_OK };
  const program = buildProgram(io, hooks, exit);
  try {
    await program.parseAsync(argv);
    return exit.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return EXIT_USAGE;
      const message = err.message.replace(/^error:\s*/, '');
      io.stderr.write(`postern-gateway: ${message}${/[.!]$/.test(message) ? '' : '.'} See --help. (bad_request)\n`);
      return EXIT_USAGE;
    }
    return reportError(io, err);
  }
}
