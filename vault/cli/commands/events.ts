/**
 * `postern events`: the audit log of your vault — your own actions and those of your
 * applications' devices — newest first.
 */
import type { Command } from 'commander';
import { contextOf } from '../context.ts';
import { integerIn, recordUid } from '../flags.ts';
import { isoTime, type CliIo } from '../output.ts';
import { withVault } from '../session.ts';

interface EventsOptions {
  limit: number;
  action?: string;
  record?: string;
}

export function registerEventsCommand(program: Command, io: CliIo): void {
  program
    .command('events')
    .description(
      'Show the audit log, newest first: logins, record and folder changes, shares, file transfers, and every ' +
        'Secrets Manager request made by your applications’ devices (including refused ones).',
    )
    .option('--limit <n>', 'number of events, 1 to 1000', integerIn(1, 1000), 100)
    .option('--action <action>', 'only this action, e.g. account.login, record.add, folder.share, secrets.get_secret')
    .option('--record <uid>', 'only events about this record', recordUid)
    .addHelpText(
      'after',
      `
Examples:
  $ postern events --limit 20
  $ postern events --action secrets.get_secret --json`,
    )
    .action(async (options: EventsOptions, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const events = await vault.events({
          limit: options.limit,
          ...(options.action ? { action: options.action } : {}),
          ...(options.record ? { recordUid: options.record } : {}),
        });
        const value = events.map((e) => ({
          uid: e.uid,
          at: isoTime(e.at),
          actorKind: e.actorKind,
          actor: e.actor,
          action: e.action,
          recordUid: e.recordUid,
          clientIp: e.clientIp,
          outcome: e.outcome,
          detail: e.detail,
        }));
        ctx.out.result({ events: value }, () =>
          ctx.out.table(
            ['TIME', 'ACTOR', 'ACTION', 'RECORD', 'IP', 'OUTCOME'],
            value.map((e) => {
              const code = typeof e.detail?.['code'] === 'string' ? ` (${e.detail['code']})` : '';
              return [e.at, e.actorKind === 'user' ? e.actor : `${e.actorKind}:${e.actor}`, e.action, e.recordUid, e.clientIp, `${e.outcome}${code}`];
            }),
            'No events.',
          ),
        );
      });
    });
}
