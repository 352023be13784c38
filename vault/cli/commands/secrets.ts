/**
 * The device side (`postern secrets init | get | update`), the equivalent of Keeper's `ksm`:
 * a machine holding an application's device configuration reads and writes the records
 * shared to that application. No account, no master password.
 *
 * The configuration comes from, in order: `--config FILE`, the `POSTERN_SECRETS_CONFIG`
 * environment variable (base64 or JSON, as printed by `app client add --config-init`, like
 * KSM_CONFIG), or `$POSTERN_HOME/secrets-config.json`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { PosternError, UsageError } from '../../../core/errors.ts';
import { applyFieldAssignments, recordFieldsForDisplay } from '../../../core/records/index.ts';
import { SecretsClient, decodeConfig, encodeConfig, type SecretRecord, type SecretsConfig } from '../../../core/secrets-client/index.ts';
import { writePrivateFile } from '../../../node/private-file.ts';
import { ensureHome } from '../config.ts';
import { contextOf, type CliContext } from '../context.ts';
import { printRecordField } from '../record-field.ts';
import { collect, recordUid } from '../flags.ts';
import { isoTime, type CliIo } from '../output.ts';
import { FIELD_HELP, fieldAssignments, withFlagName } from './record.ts';

export const SECRETS_CONFIG_ENV = 'POSTERN_SECRETS_CONFIG';

function defaultConfigPath(ctx: CliContext): string {
  return join(ctx.home, 'secrets-config.json');
}

function loadConfig(ctx: CliContext, file: string | undefined): SecretsConfig {
  if (file !== undefined) return readConfigFile(ctx, resolve(file));
  const fromEnv = ctx.io.env[SECRETS_CONFIG_ENV];
  if (fromEnv && fromEnv.trim() !== '') {
    try {
      return decodeConfig(fromEnv);
    } catch (err) {
      throw new PosternError('bad_request', `${SECRETS_CONFIG_ENV}: ${(err as Error).message}`);
    }
  }
  const path = defaultConfigPath(ctx);
  if (!existsSync(path)) {
    throw new PosternError(
      'bad_request',
      `No device configuration: pass --config FILE, set ${SECRETS_CONFIG_ENV}, or run \`postern secrets init --token TOKEN\` (writes ${path}).`,
    );
  }
  return readConfigFile(ctx, path);
}

function readConfigFile(ctx: CliContext, path: string): SecretsConfig {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) ctx.out.warn(`${path} is readable by other users (mode ${mode.toString(8)}); run \`chmod 600 ${path}\`.`);
  try {
    return decodeConfig(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err instanceof PosternError) throw new PosternError(err.code, `${path}: ${err.message}`);
    throw err;
  }
}

function secretSummary(r: SecretRecord) {
  return { uid: r.uid, type: r.type, title: r.data.title, folderUid: r.folderUid, revision: r.revision, pending: r.pending !== null };
}

interface InitOptions {
  token: string;
  config?: string;
  force?: boolean;
}

interface GetOptions {
  field?: string;
  unmask?: boolean;
  config?: string;
}

export function registerSecretsCommands(program: Command, io: CliIo): void {
  const secrets = program
    .command('secrets')
    .description(
      `Device side (like Keeper's ksm): read and write the records shared to an application, using a device configuration ` +
        `(--config FILE, $${SECRETS_CONFIG_ENV}, or $POSTERN_HOME/secrets-config.json). No account or master password involved.`,
    );

  secrets
    .command('init')
    .description(
      'Redeem a one-time access token (from `postern app client add`) and write this device’s configuration, mode 0600. ' +
        'The configuration holds the device’s private key and the application key: it reads every secret shared to the application.',
    )
    .requiredOption('--token <token>', 'the one-time access token')
    .option('--config <file>', 'where to write the configuration (default: $POSTERN_HOME/secrets-config.json)')
    .option('--force', 'replace an existing configuration file')
    .addHelpText(
      'after',
      `
The token names the server; the global --server overrides it (e.g. behind a proxy).

Examples:
  $ postern secrets init --token vault.example.com:q3J…
  $ postern secrets init --token 127.0.0.1:8080:q3J… --config /etc/myapp/postern.json`,
    )
    .action(async (options: InitOptions, command: Command) => {
      const ctx = contextOf(command, io);
      let path: string;
      if (options.config !== undefined) {
        path = resolve(options.config);
      } else {
        ensureHome(ctx.home);
        path = defaultConfigPath(ctx);
      }
      // Refuse before redeeming: a token spent on a file we then cannot write is a token lost.
      if (existsSync(path) && !options.force)
        throw new PosternError('conflict', `${path} already exists; pass --force to replace it, or --config to choose another file.`);
      const config = await SecretsClient.redeemToken(options.token, ctx.serverOption ? { server: ctx.serverOption } : {});
      writePrivateFile(path, `${encodeConfig(config, 'json')}\n`, { overwrite: options.force === true });
      ctx.out.result({ path, server: config.server, appUid: config.appUid, deviceUid: config.deviceUid }, () => {
        ctx.out.line(`Device ${config.deviceUid} of application ${config.appUid} registered with ${config.server}.`);
        ctx.out.line(`Configuration written to ${path} (mode 0600). Keep it as secret as a password.`);
      });
    });

  secrets
    .command('get')
    .description(
      'List the records shared to the application, or show one (secrets masked unless --unmask). ' +
        'With --field NAME, print only that raw value, for scripts.',
    )
    .argument('[uid]', 'record UID', recordUid)
    .option('--field <name>', 'print only this field of the record (raw, unmasked)')
    .option('--unmask', 'show secret values')
    .option('--config <file>', `device configuration file (default: $${SECRETS_CONFIG_ENV}, then $POSTERN_HOME/secrets-config.json)`)
    .addHelpText(
      'after',
      `
Examples:
  $ postern secrets get
  $ export ${SECRETS_CONFIG_ENV}="$(vault-read ci/postern)"; DB_PW="$(postern secrets get 3Rt0dV1Jm2Kq8m0dYc1xWg --field password)"`,
    )
    .action(async (uid: string | undefined, options: GetOptions, command: Command) => {
      const ctx = contextOf(command, io);
      if (options.field !== undefined && uid === undefined) throw new UsageError('--field needs a record UID: postern secrets get UID --field NAME.');
      const client = new SecretsClient(loadConfig(ctx, options.config));
      if (uid === undefined) {
        const records = await client.getSecrets();
        const value = records.map(secretSummary);
        ctx.out.result({ records: value }, () =>
          ctx.out.table(
            ['RECORD UID', 'TYPE', 'TITLE', 'FOLDER UID'],
            value.map((r) => [r.uid, r.type, r.title, r.folderUid]),
            'No records are shared to this application.',
          ),
        );
        return;
      }
      const record = await client.getSecret(uid);
      if (options.field !== undefined) {
        printRecordField(ctx, uid, record.data, options.field);
        return;
      }
      const fields = recordFieldsForDisplay(record.data, { unmask: options.unmask === true });
      ctx.out.result(
        {
          ...secretSummary(record),
          fields,
          ...(options.unmask ? { data: record.data } : {}),
          pendingSince: record.pending ? isoTime(record.pending.createdAt) : null,
          files: record.files,
          links: record.links,
        },
        () => {
          ctx.out.pairs([
            ['UID', record.uid],
            ['Type', record.type],
            ['Folder UID', record.folderUid],
            ['Revision', record.revision],
            ...(record.pending ? ([['Pending', `a rotation in flight since ${isoTime(record.pending.createdAt)}`]] as [string, string][]) : []),
          ]);
          ctx.out.line();
          ctx.out.table(
            ['FIELD', 'VALUE'],
            fields.map((f) => [f.name, f.value]),
          );
          if (record.files.length > 0) {
            ctx.out.line();
            ctx.out.table(
              ['FILE UID', 'KIND', 'NAME', 'SIZE'],
              record.files.map((f) => [f.uid, f.kind, f.name, `${f.size} B`]),
            );
          }
        },
      );
    });

  secrets
    .command('update')
    .description('Change fields of a record shared to the application with edit permission. A concurrent change is refused (conflict), never overwritten.')
    .argument('<uid>', 'record UID', recordUid)
    .option('--field <name=value>', 'set a field (repeatable; see below)', collect)
    .option('--field-stdin <name>', 'read the new value of field NAME from the first line of stdin (a hidden prompt on a terminal)')
    .option('--config <file>', `device configuration file (default: $${SECRETS_CONFIG_ENV}, then $POSTERN_HOME/secrets-config.json)`)
    .addHelpText(
      'after',
      `
${FIELD_HELP}

Examples:
  $ postern secrets update 3Rt0dV1Jm2Kq8m0dYc1xWg --field-stdin password < new-password.txt
  $ postern secrets update 3Rt0dV1Jm2Kq8m0dYc1xWg --field port=5433`,
    )
    .action(async (uid: string, options: { field?: string[]; fieldStdin?: string; config?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const assignments = await fieldAssignments(io, options);
      if (assignments.length === 0) throw new UsageError('Nothing to change: give --field name=value or --field-stdin NAME.');
      const client = new SecretsClient(loadConfig(ctx, options.config));
      const { revision } = await client.updateSecret(uid, (current) => {
        try {
          return applyFieldAssignments(current, assignments);
        } catch (err) {
          throw withFlagName(err);
        }
      });
      ctx.out.result({ uid, revision }, () => ctx.out.line(`Record ${uid} updated (revision ${revision}).`));
    });
}
