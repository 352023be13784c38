/**
 * `postern gateway create | list | info | remove`: the on-premises gateways. A gateway is a
 * device of a Secrets Manager application that also keeps a WebSocket open to the Router; it
 * is provisioned from a one-time token like any device, then `postern-gateway init` redeems it.
 */
import { Option, type Command } from 'commander';
import { PosternError } from '../../../core/errors.ts';
import type { GatewayEntry } from '../../../core/protocol/vault-api.ts';
import { encodeConfig, SecretsClient } from '../../../core/secrets-client/index.ts';
import { contextOf } from '../context.ts';
import { integerIn } from '../flags.ts';
import { isoTime, relativeTime, whenText, type CliIo } from '../output.ts';
import { resolveGateway } from '../resolve.ts';
import { withVault } from '../session.ts';
import { actionFailure } from './job.ts';

interface CreateOptions {
  app: string;
  name: string;
  configInit?: 'json' | 'b64';
  unlockIp?: boolean;
  firstAccessExpiresInMin: number;
}

export function gatewayStatus(g: GatewayEntry): string {
  if (g.revokedAt !== null) return 'removed';
  if (g.online) return 'online';
  return g.registeredAt === null ? 'offline (not initialised)' : 'offline';
}

function gatewayJson(g: GatewayEntry) {
  return {
    gatewayUid: g.gatewayUid,
    name: g.name,
    appUid: g.appUid,
    status: gatewayStatus(g),
    online: g.online,
    version: g.version,
    address: g.address,
    connectedSince: g.connectedSince === null ? null : isoTime(g.connectedSince),
    workerId: g.workerId,
    createdAt: isoTime(g.createdAt),
    registeredAt: g.registeredAt === null ? null : isoTime(g.registeredAt),
    revokedAt: g.revokedAt === null ? null : isoTime(g.revokedAt),
  };
}

/** Nested gateway-info data as `a.b  value` rows. */
function flatten(value: unknown, prefix = '', into: [string, string][] = []): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) into.push([prefix, '{}']);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else if (Array.isArray(value)) {
    into.push([prefix || 'value', value.every((v) => v === null || typeof v !== 'object') ? value.join(', ') : JSON.stringify(value)]);
  } else if (typeof value === 'number' && /(At|Since)$/.test(prefix)) {
    // Epoch milliseconds (startedAt, connectedSince): when, for a person.
    into.push([prefix, whenText(value)]);
  } else {
    into.push([prefix || 'value', value === null || value === undefined ? '' : String(value)]);
  }
  return into;
}

export function registerGatewayCommands(program: Command, io: CliIo): void {
  const gateway = program
    .command('gateway')
    .description('Gateways: the services inside your networks that rotate passwords and open connections. Needs the "manage_gateways" policy.');

  gateway
    .command('create')
    .description(
      'Provision a gateway for an application: prints a one-time token and the `postern-gateway init` line to run on the gateway host. ' +
        'The token is made on this machine; the server stores only a hash of what it derives. By default the gateway is then ' +
        'locked to the IP address that redeems the token. Share the folders the gateway needs to the application ' +
        '(`postern app share FOLDER --app APP --can-edit`).',
    )
    .requiredOption('--app <app>', 'application name or UID (see `postern app list`)')
    .requiredOption('--name <name>', 'gateway name, e.g. the site or network it serves')
    .addOption(
      new Option(
        '--config-init <format>',
        'redeem the token here and print the ready gateway configuration instead (for GATEWAY_CONFIG / a secret store)',
      ).choices(['b64', 'json']),
    )
    .option('--unlock-ip', 'do not lock the gateway to the IP address that first uses the token')
    .addOption(new Option('--first-access-expires-in-min <min>', 'minutes the token stays redeemable, 1 to 1440').default(60).argParser(integerIn(1, 1440)))
    .addHelpText(
      'after',
      `
Examples:
  $ postern gateway create --app "Gateway - London" --name gw-london
      then on the gateway host:  postern-gateway init --token <TOKEN> && postern-gateway start
  $ postern gateway create --app "Gateway - London" --name gw-docker --unlock-ip --config-init b64
      for a container: GATEWAY_CONFIG=<printed value> (as sensitive as a password)`,
    )
    .action(async (options: CreateOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const name = options.name.trim();
      if (name === '') throw new PosternError('bad_request', '--name is empty.');
      await withVault(ctx, async (vault) => {
        const application = await vault.findApplication(options.app);
        const existing = (await vault.listGateways()).find((g) => g.name === name && g.revokedAt === null);
        if (existing) {
          throw new PosternError(
            'conflict',
            `A gateway named "${name}" already exists (${existing.gatewayUid}); choose another name or remove it first (\`postern gateway remove ${existing.gatewayUid}\`).`,
          );
        }
        const [issued] = await vault.addApplicationClients(application.uid, {
          kind: 'gateway',
          name,
          unlockIp: options.unlockIp === true,
          firstAccessExpiresInMinutes: options.firstAccessExpiresInMin,
        });
        const token = issued!;
        if (!options.configInit) {
          const init = `postern-gateway init --token ${token.token}`;
          const value = {
            gatewayUid: token.deviceUid,
            name: token.name,
            appUid: application.uid,
            token: token.token,
            firstAccessExpiresAt: isoTime(token.firstAccessExpiresAt),
            ipLock: options.unlockIp !== true,
            initCommand: init,
          };
          ctx.out.result(value, () => {
            ctx.out.pairs([
              ['Gateway UID', token.deviceUid],
              ['Name', token.name],
              ['Application', `${application.name} (${application.uid})`],
              ['One-time token', token.token],
              ['Redeem before', whenText(token.firstAccessExpiresAt)],
              ['IP lock', options.unlockIp ? 'off' : 'to the address that redeems the token'],
            ]);
            ctx.out.line();
            ctx.out.line('On the gateway host, run:');
            ctx.out.line(`  ${init}`);
            ctx.out.line('  postern-gateway start');
          });
          if (!ctx.out.json) {
            ctx.out.notice('The token works once. Hand it to the gateway host over a trusted channel; anyone who redeems it first becomes this gateway.');
          }
          return;
        }
        const format = options.configInit;
        ctx.out.warn(
          'The gateway configuration printed below is as sensitive as a password: it reads every secret shared to the application. ' +
            'Store it in a secret store, never in a repository or a log.',
        );
        if (!options.unlockIp) {
          ctx.out.warn(
            "The IP lock binds the gateway to the first address that uses this configuration, which is this machine's (it redeemed the token). Add --unlock-ip if the gateway runs elsewhere.",
          );
        }
        const config = await SecretsClient.redeemToken(token.token, { server: vault.transport.server });
        ctx.out.result(
          { gatewayUid: token.deviceUid, name: token.name, appUid: application.uid, format, config: format === 'json' ? config : encodeConfig(config, 'b64') },
          () => ctx.out.raw(`${encodeConfig(config, format)}\n`),
        );
      });
    });

  gateway
    .command('list')
    .description('List your gateways: online or offline, the version and address they connect from, since when, and the Router worker holding them.')
    .option('--app <app>', 'only the gateways of this application (name or UID)')
    .addHelpText('after', '\nExamples:\n  $ postern gateway list\n  $ postern gateway list --app "Gateway - London" --json')
    .action(async (options: { app?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const appUid = options.app ? (await vault.findApplication(options.app)).uid : undefined;
        const gateways = (await vault.listGateways()).filter((g) => appUid === undefined || g.appUid === appUid);
        const now = Date.now();
        ctx.out.result({ gateways: gateways.map(gatewayJson) }, () =>
          ctx.out.table(
            ['NAME', 'GATEWAY UID', 'STATUS', 'VERSION', 'ADDRESS', 'CONNECTED SINCE', 'WORKER'],
            gateways.map((g) => [
              g.name,
              g.gatewayUid,
              gatewayStatus(g),
              g.version,
              g.address,
              g.connectedSince === null ? '' : `${relativeTime(g.connectedSince, now)} (${isoTime(g.connectedSince)})`,
              g.workerId,
            ]),
            'No gateways. Create one with `postern gateway create --app APP --name NAME`.',
          ),
        );
      });
    });

  gateway
    .command('info')
    .description('Ask a running gateway about itself (version, uptime, what it can do) through the Router.')
    .argument('<gateway>', 'gateway name or UID')
    .addHelpText('after', '\nExample:\n  $ postern gateway info gw-london')
    .action(async (nameOrUid: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const target = await resolveGateway(vault, nameOrUid);
        if (target.entry?.revokedAt) throw new PosternError('bad_state', `Gateway ${target.name ?? target.gatewayUid} has been removed.`);
        const outcome = await vault.action('gateway-info', { gatewayUid: target.gatewayUid });
        if (outcome.code !== 'ok') throw actionFailure(outcome, `Gateway ${target.name ?? target.gatewayUid} did not answer`);
        ctx.out.result({ gatewayUid: target.gatewayUid, name: target.name, data: outcome.data ?? null }, () => {
          ctx.out.pairs([
            ['Gateway', `${target.name ?? ''} (${target.gatewayUid})`.trim()],
            ...(target.entry?.connectedSince
              ? ([['Connected', `${whenText(target.entry.connectedSince)} from ${target.entry.address ?? '?'}`]] as [string, string][])
              : []),
            ...flatten(outcome.data ?? {}),
          ]);
        });
      });
    });

  gateway
    .command('remove')
    .description(
      'Remove a gateway: it is disconnected now, its configuration stops working, and rotations through it fail until the ' +
        'PAM configuration names another gateway. The record of it stays, shown as "removed".',
    )
    .argument('<gateway>', 'gateway name or UID')
    .addHelpText('after', '\nExample:\n  $ postern gateway remove gw-london')
    .action(async (nameOrUid: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const target = await resolveGateway(vault, nameOrUid);
        await vault.removeGateway(target.gatewayUid);
        ctx.out.result({ gatewayUid: target.gatewayUid, name: target.name, removed: true }, () =>
          ctx.out.line(
            `Removed gateway ${target.name ? `${target.name} (${target.gatewayUid})` : target.gatewayUid}; it has been disconnected and its configuration no longer works.`,
          ),
        );
      });
    });
}
