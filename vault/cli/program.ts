/**
 * The `postern` command line: builds the commander program and runs it, turning every failure
 * into one line on stderr and an exit code (0 ok, 1 error, 2 usage error).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { registerAccountCommands } from './commands/account.ts';
import { registerAppCommands } from './commands/app.ts';
import { registerEventsCommand } from './commands/events.ts';
import { registerFolderCommands } from './commands/folder.ts';
import { registerGatewayCommands } from './commands/gateway.ts';
import { registerInviteCommands } from './commands/invite.ts';
import { registerJobCommands } from './commands/job.ts';
import { registerRecordCommands } from './commands/record.ts';
import { registerRoleCommands } from './commands/role.ts';
import { registerRotationCommands } from './commands/rotation.ts';
import { registerSecretsCommands } from './commands/secrets.ts';
import { registerRelayCommands } from './commands/relay.ts';
import { registerServerCommands } from './commands/server.ts';
import { registerTunnelCommands } from './commands/tunnel.ts';
import { protectDashUids, unprotectBeforeAction } from './argv.ts';
import { DEFAULT_SERVER } from './config.ts';
import { describeError, EXIT_ERROR, EXIT_OK, EXIT_USAGE, reportError, type CliIo } from './output.ts';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('postern');
  program
    .description('Postern: zero-knowledge privileged access management. Records are encrypted on this machine; the server never sees a secret.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addOption(new Option('--server <url>', `the Postern server (default: the server of your last login, else ${DEFAULT_SERVER})`).env('POSTERN_SERVER'))
    .option('--json', 'print results as JSON on stdout (errors as {"error":{"code","message"}} on stderr)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Errors are reported once, by main(), in the CLI's own format.
      outputError: () => {},
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      'after',
      `
Getting started:
  $ postern server start                       # in another terminal, or use a remote server
  $ postern register --email admin@example.com
  $ postern login --email admin@example.com
  $ postern folder add Production --shared
  $ postern record add --type pamUser --title "db root" --folder Production --field login=root --field-stdin password
  $ postern app create "Gateway - London" && postern app share Production --app "Gateway - London" --can-edit
  $ postern gateway create --app "Gateway - London" --name gw-london   # then postern-gateway init on its host
  $ postern record add --type pamConfiguration --title "London PAM" --folder Production --field environment=local \\
      --field gatewayUid=<gateway UID> --field applicationFolderUid=<Production UID> --field features.rotation=true
  $ postern rotation set "db root" --config "London PAM" --schedule daily@03:00 --tz Europe/London
  $ postern rotate "db root"

Environment:
  POSTERN_SERVER          default for --server
  POSTERN_HOME            where the CLI keeps its state (default ~/.postern, mode 0700):
                          config.json (saved sessions, mode 0600), secrets-config.json, server/
  POSTERN_SECRETS_CONFIG  a device configuration (base64 or JSON) for \`postern secrets\`
  There is no POSTERN_PASSWORD: use the prompt or --password-stdin (see \`postern login --help\`).

Exit codes: 0 success, 1 error (code in parentheses), 2 usage error.`,
    );

  registerServerCommands(program, io);
  registerRelayCommands(program, io);
  registerAccountCommands(program, io);
  registerFolderCommands(program, io);
  registerRecordCommands(program, io);
  registerAppCommands(program, io);
  registerGatewayCommands(program, io);
  registerRotationCommands(program, io);
  registerTunnelCommands(program, io);
  registerJobCommands(program, io);
  registerRoleCommands(program, io);
  registerInviteCommands(program, io);
  registerEventsCommand(program, io);
  registerSecretsCommands(program, io);
  unprotectBeforeAction(program);
  return program;
}

/** Runs the CLI with `argv` as in `process.argv` (node, script, args…); returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  // Known before parsing, so that even a parse error is reported as JSON when asked.
  const json = argv.slice(2).includes('--json');
  const program = buildProgram(io);
  try {
    await program.parseAsync(protectDashUids(program, argv));
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      // `postern folder` alone: commander has printed the group's help.
      if (err.code === 'commander.help') return EXIT_USAGE;
      const message = err.message.replace(/^error:\s*/, '');
      reportError(io, json, { code: 'bad_request', message: `${message}${/[.!]$/.test(message) ? '' : '.'} See --help.`, exitCode: EXIT_USAGE });
      return EXIT_USAGE;
    }
    const reported = describeError(err);
    reportError(io, json, reported);
    return reported.exitCode === EXIT_OK ? EXIT_ERROR : reported.exitCode;
  }
}
