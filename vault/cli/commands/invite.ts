/**
 * `postern invite add | list | rm`: after the first account, a server registers people by
 * invitation (unless it runs with --open-registration). Only a Postern administrator invites.
 * The code is made on this machine and shown once; the server keeps only its hash.
 */
import type { Command } from 'commander';
import { contextOf } from '../context.ts';
import { isoTime, whenText, type CliIo } from '../output.ts';
import { withVault } from '../session.ts';
import { UsageError } from '../../../core/errors.ts';

const MAX_MINUTES = 90 * 24 * 60;

/** `7d`, `12h`, `30m` (or plain minutes) to minutes, up to 90 days. */
export function expiryMinutes(value: string): number {
  const match = /^(\d+)\s*([mhd]?)$/i.exec(value.trim());
  const minutes = match ? Number(match[1]) * ({ '': 1, m: 1, h: 60, d: 1440 } as Record<string, number>)[match[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > MAX_MINUTES) {
    throw new UsageError(`--expires-in takes a duration from 1m to 90d, such as 30m, 12h or 7d (got "${value}").`);
  }
  return minutes;
}

function status(i: { usedAt: number | null; expiresAt: number }, now: number): string {
  if (i.usedAt !== null) return 'used';
  return i.expiresAt <= now ? 'expired' : 'pending';
}

export function registerInviteCommands(program: Command, io: CliIo): void {
  const invite = program
    .command('invite')
    .description(
      'Invitations to register on this server (administrators only). After the first account, registration needs one ' +
        'unless the server runs with --open-registration.',
    );

  invite
    .command('add')
    .description('Invite EMAIL: prints a one-time invitation code, shown only this once. Send it to that person over a channel you trust.')
    .argument('<email>', 'the email the invitation is for (only this email can redeem it)')
    .option('--expires-in <duration>', 'how long the code stays usable: 30m, 12h, 7d … up to 90d', '7d')
    .addHelpText(
      'after',
      `
A new invitation for the same email replaces one still pending.

Examples:
  $ postern invite add bob@example.com
  $ postern invite add contractor@example.com --expires-in 12h
Then, on Bob's machine:
  $ postern register --email bob@example.com --invite <code>`,
    )
    .action(async (email: string, options: { expiresIn: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const expiresInMinutes = expiryMinutes(options.expiresIn);
      await withVault(ctx, async (vault) => {
        const added = await vault.addInvitation(email, { expiresInMinutes });
        ctx.out.result({ invitationUid: added.invitationUid, email: added.email, expiresAt: isoTime(added.expiresAt), code: added.code }, () => {
          ctx.out.line(`Invitation for ${added.email}, usable once until ${isoTime(added.expiresAt)}:`);
          ctx.out.line('');
          ctx.out.line(`  ${added.code}`);
          ctx.out.line('');
          ctx.out.line('This code is not shown again and the server cannot recover it. The invited person runs:');
          ctx.out.line(`  postern register --email ${added.email} --server ${vault.session.server} --invite ${added.code}`);
        });
      });
    });

  invite
    .command('list')
    .description('List invitations: pending, expired and used.')
    .addHelpText('after', '\nExample:\n  $ postern invite list')
    .action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const now = Date.now();
        const invitations = await vault.listInvitations();
        ctx.out.result(
          {
            invitations: invitations.map((i) => ({
              invitationUid: i.invitationUid,
              email: i.email,
              status: status(i, now),
              createdBy: i.createdBy,
              createdAt: isoTime(i.createdAt),
              expiresAt: isoTime(i.expiresAt),
              usedAt: i.usedAt === null ? null : isoTime(i.usedAt),
            })),
          },
          () =>
            ctx.out.table(
              ['UID', 'EMAIL', 'STATUS', 'EXPIRES', 'INVITED BY'],
              invitations.map((i) => [i.invitationUid, i.email, status(i, now), whenText(i.expiresAt, now), i.createdBy]),
              'No invitations. Invite someone with `postern invite add EMAIL`.',
            ),
        );
      });
    });

  invite
    .command('rm')
    .description('Withdraw pending invitations, by invitation UID or by email (every pending one for it).')
    .argument('<uid-or-email>', 'an invitation UID from `postern invite list`, or an email')
    .addHelpText('after', '\nExamples:\n  $ postern invite rm bob@example.com\n  $ postern invite rm 3Rt0dV1Jm2Kq8m0dYc1xWg')
    .action(async (target: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const removed = await vault.removeInvitation(target.trim());
        ctx.out.result({ target: target.trim(), removed }, () =>
          ctx.out.line(`Withdrew ${removed} pending invitation${removed === 1 ? '' : 's'} (${target.trim()}).`),
        );
      });
    });
}
