/**
 * `postern app …`: Secrets Manager applications (what a gateway or a CI job is), the folders
 * shared to them, and their devices (clients), created from one-time access tokens.
 */
import { Option, type Command } from 'commander';
import { SecretsClient, encodeConfig, type SecretsConfig } from '../../../core/secrets-client/index.ts';
import type { DeviceEntry } from '../../../core/protocol/vault-api.ts';
import { contextOf } from '../context.ts';
import { deviceUid, integerIn } from '../flags.ts';
import { isoTime, type CliIo } from '../output.ts';
import { folderLabel, resolveFolderUid } from '../resolve.ts';
import { withVault } from '../session.ts';

interface ClientAddOptions {
  app: string;
  name?: string;
  firstAccessExpiresInMin: number;
  accessExpireInMin?: number;
  unlockIp?: boolean;
  count: number;
  configInit?: 'json' | 'b64';
}

function deviceStatus(d: DeviceEntry, now: number): string {
  if (d.revokedAt !== null) return 'removed';
  if (d.accessExpiresAt !== null && d.accessExpiresAt <= now) return 'access expired';
  if (d.registeredAt === null) return d.firstAccessExpiresAt <= now ? 'token expired' : 'token not used yet';
  return 'active';
}

export function registerAppCommands(program: Command, io: CliIo): void {
  const app = program.command('app').description('Secrets Manager applications: what a gateway, a CI job or a service uses to read the folders shared to it.');

  app
    .command('create')
    .description('Create an application and print its UID. Share folders to it with `postern app share`, then add a client (device).')
    .argument('<name>', 'application name (encrypted; the server never sees it)')
    .addHelpText('after', '\nExample:\n  $ postern app create "Gateway - London"')
    .action(async (name: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const uid = await vault.createApplication(name);
        ctx.out.result({ uid, name }, () => ctx.out.line(uid));
      });
    });

  app
    .command('list')
    .description('List your applications and the folders shared to each.')
    .addHelpText('after', '\nExample:\n  $ postern app list')
    .action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const view = await vault.sync();
        const apps = view.applications.map((a) => ({
          uid: a.uid,
          name: a.name,
          createdAt: isoTime(a.createdAt),
          folders: a.folders.map((f) => ({ folderUid: f.folderUid, name: folderLabel(view.folders, f.folderUid), canEdit: f.canEdit })),
        }));
        ctx.out.result({ applications: apps }, () =>
          ctx.out.table(
            ['APP UID', 'NAME', 'CREATED', 'FOLDERS'],
            apps.map((a) => [a.uid, a.name, a.createdAt, a.folders.map((f) => `${f.name}${f.canEdit ? ' (edit)' : ''}`).join(', ')]),
            'No applications. Create one with `postern app create NAME`.',
          ),
        );
      });
    });

  app
    .command('share')
    .description(
      'Share a shared folder with an application, so its devices can read the records in it. ' +
        '--can-edit also lets them write (a gateway needs it to store rotated passwords).',
    )
    .argument('<folder>', 'folder name or UID')
    .requiredOption('--app <app>', 'application name or UID')
    .option('--can-edit', 'let the application change records in the folder')
    .addHelpText('after', '\nExample:\n  $ postern app share Production --app "Gateway - London" --can-edit')
    .action(async (folderName: string, options: { app: string; canEdit?: boolean }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const application = await vault.findApplication(options.app);
        const folderUid = await resolveFolderUid(vault, folderName);
        await vault.shareFolderToApplication(application.uid, folderUid, options.canEdit === true);
        ctx.out.result({ appUid: application.uid, folderUid, canEdit: options.canEdit === true }, () =>
          ctx.out.line(`Shared folder ${folderUid} with application ${application.name} (${options.canEdit ? 'can edit' : 'read-only'}).`),
        );
      });
    });

  const client = app.command('client').description("Manage an application's clients (devices).");

  client
    .command('add')
    .description(
      'Create one-time access tokens for new devices of an application. A device redeems its token with ' +
        '`postern secrets init --token TOKEN` (or a gateway with `postern-gateway init`). The token is made on this ' +
        'machine and the server only stores a hash of what it derives. By default the device is then locked to the ' +
        'IP address it first connects from.',
    )
    .requiredOption('--app <app>', 'application name or UID')
    .option('--name <name>', 'device name (with --count, suffixed -1, -2, …; default: random)')
    .addOption(new Option('--first-access-expires-in-min <min>', 'minutes the token stays redeemable, 1 to 1440').default(60).argParser(integerIn(1, 1440)))
    .addOption(
      new Option('--access-expire-in-min <min>', 'minutes the device keeps access after creation (default: no expiry)').argParser(integerIn(1, 5_256_000)),
    )
    .option('--unlock-ip', 'do not lock the device to the IP address of its first request')
    .addOption(new Option('--count <n>', 'number of tokens, 1 to 100').default(1).argParser(integerIn(1, 100)))
    .addOption(
      new Option('--config-init <format>', 'redeem each token here and print the ready device configuration instead (as sensitive as a password)').choices([
        'json',
        'b64',
      ]),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ postern app client add --app "Gateway - London" --name gw-london
  $ postern app client add --app ci --unlock-ip --config-init b64   # for POSTERN_SECRETS_CONFIG
  $ postern app client add --app ci --count 3 --first-access-expires-in-min 1440`,
    )
    .action(async (options: ClientAddOptions, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const application = await vault.findApplication(options.app);
        const issued = await vault.addApplicationClients(application.uid, {
          ...(options.name ? { name: options.name } : {}),
          firstAccessExpiresInMinutes: options.firstAccessExpiresInMin,
          ...(options.accessExpireInMin ? { accessExpiresInMinutes: options.accessExpireInMin } : {}),
          unlockIp: options.unlockIp === true,
          count: options.count,
        });
        if (!options.configInit) {
          const clients = issued.map((c) => ({ deviceUid: c.deviceUid, name: c.name, token: c.token, firstAccessExpiresAt: isoTime(c.firstAccessExpiresAt) }));
          ctx.out.result({ appUid: application.uid, clients }, () => {
            ctx.out.table(
              ['DEVICE UID', 'NAME', 'REDEEM BEFORE', 'ONE-TIME TOKEN'],
              clients.map((c) => [c.deviceUid, c.name, c.firstAccessExpiresAt, c.token]),
            );
          });
          ctx.out.notice(
            `Each token works once, before the time shown. Hand it to the device over a trusted channel; there run \`postern secrets init --token TOKEN\`.`,
          );
          return;
        }
        const format = options.configInit;
        ctx.out.warn(
          'The device configuration printed below is as sensitive as a password: it reads every secret shared to the application. Store it in a secret store, never in a repository or a log.',
        );
        if (!options.unlockIp) {
          ctx.out.warn("The device is locked to this machine's IP address (it redeemed the token); add --unlock-ip if the configuration will run elsewhere.");
        }
        const configs: { deviceUid: string; name: string; config: SecretsConfig }[] = [];
        for (const c of issued) {
          const config = await SecretsClient.redeemToken(c.token, { server: vault.transport.server });
          configs.push({ deviceUid: c.deviceUid, name: c.name, config });
        }
        ctx.out.result(
          {
            appUid: application.uid,
            format,
            clients: configs.map((c) => ({ deviceUid: c.deviceUid, name: c.name, config: format === 'json' ? c.config : encodeConfig(c.config, 'b64') })),
          },
          () => {
            if (format === 'b64') for (const c of configs) ctx.out.raw(`${encodeConfig(c.config, 'b64')}\n`);
            else if (configs.length === 1) ctx.out.raw(`${encodeConfig(configs[0]!.config, 'json')}\n`);
            else
              ctx.out.raw(
                `${JSON.stringify(
                  configs.map((c) => c.config),
                  null,
                  2,
                )}\n`,
              );
          },
        );
      });
    });

  client
    .command('list')
    .description('List the devices of an application: when each registered, was last seen, its IP lock and expiry.')
    .requiredOption('--app <app>', 'application name or UID')
    .addHelpText('after', '\nExample:\n  $ postern app client list --app "Gateway - London"')
    .action(async (options: { app: string }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const application = await vault.findApplication(options.app);
        const devices = await vault.listApplicationClients(application.uid);
        const now = Date.now();
        const value = devices.map((d) => ({
          deviceUid: d.deviceUid,
          name: d.name,
          status: deviceStatus(d, now),
          createdAt: isoTime(d.createdAt),
          firstAccessExpiresAt: isoTime(d.firstAccessExpiresAt),
          accessExpiresAt: isoTime(d.accessExpiresAt) || null,
          registeredAt: isoTime(d.registeredAt) || null,
          lastSeenAt: isoTime(d.lastSeenAt) || null,
          ipLock: d.ipLock,
          lockedIp: d.lockedIp,
          revokedAt: isoTime(d.revokedAt) || null,
        }));
        ctx.out.result({ appUid: application.uid, clients: value }, () =>
          ctx.out.table(
            ['DEVICE UID', 'NAME', 'STATUS', 'REGISTERED', 'LAST SEEN', 'IP LOCK', 'ACCESS EXPIRES'],
            value.map((d) => [
              d.deviceUid,
              d.name,
              d.status,
              d.registeredAt,
              d.lastSeenAt,
              d.ipLock ? (d.lockedIp ?? 'on first use') : 'off',
              d.accessExpiresAt ?? 'never',
            ]),
            'No clients. Add one with `postern app client add --app NAME`.',
          ),
        );
      });
    });

  client
    .command('remove')
    .description('Remove a device from an application: its next request is refused. Its configuration becomes useless.')
    .requiredOption('--app <app>', 'application name or UID')
    .requiredOption('--client <device-uid>', 'device UID (see `postern app client list`)', deviceUid)
    .addHelpText('after', '\nExample:\n  $ postern app client remove --app "Gateway - London" --client 9xq2Lr4TgkWm3EJx0b7yVA')
    .action(async (options: { app: string; client: string }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const application = await vault.findApplication(options.app);
        await vault.removeApplicationClient(application.uid, options.client);
        ctx.out.result({ appUid: application.uid, deviceUid: options.client, removed: true }, () =>
          ctx.out.line(`Removed device ${options.client} from application ${application.name}.`),
        );
      });
    });
}
