/**
 * `postern folder add | share`: folders, and sharing them with other users.
 */
import type { Command } from 'commander';
import { PosternError } from '../../../core/errors.ts';
import { contextOf } from '../context.ts';
import type { CliIo } from '../output.ts';
import { resolveFolderUid } from '../resolve.ts';
import { withVault } from '../session.ts';

interface AddOptions {
  shared?: boolean;
  parent?: string;
  allowDuplicate?: boolean;
}

interface ShareOptions {
  user: string;
  canEdit?: boolean;
  canShare?: boolean;
}

export function registerFolderCommands(program: Command, io: CliIo): void {
  const folder = program.command('folder').description('Create folders and share them with other users.');

  folder
    .command('add')
    .description(
      'Create a folder and print its UID. Only a --shared folder can later be shared with users or applications ' +
        '(a gateway reads its resources through an application); a private folder stays yours alone.',
    )
    .argument('<name>', 'folder name (encrypted; the server never sees it)')
    .option('--shared', 'make it a shared folder (required to share it with users or applications)')
    .option('--parent <folder>', 'create it inside this folder (name or UID)')
    .option('--allow-duplicate', 'create it even if a folder of that name already exists there')
    .addHelpText(
      'after',
      `
Examples:
  $ postern folder add "Production" --shared
  $ postern folder add "Databases" --shared --parent "Production"`,
    )
    .action(async (name: string, options: AddOptions, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const parentUid = options.parent ? await resolveFolderUid(vault, options.parent) : undefined;
        const uid = await vault
          .addFolder(name, { shared: options.shared === true, allowDuplicate: options.allowDuplicate === true, ...(parentUid ? { parentUid } : {}) })
          .catch((err: unknown) => {
            if (err instanceof PosternError && err.code === 'conflict') {
              throw new PosternError('conflict', `${err.message} Use that one, or pass --allow-duplicate to create a second.`, err.details);
            }
            throw err;
          });
        ctx.out.result({ uid, name, shared: options.shared === true, parentUid: parentUid ?? null }, () => ctx.out.line(uid));
      });
    });

  folder
    .command('share')
    .description(
      "Share a shared folder with another Postern user. The folder key is encrypted to the user's public key here; " +
        'by default they can only read. --can-edit lets them change records; --can-share lets them share the folder on.',
    )
    .argument('<folder>', 'folder name or UID')
    .requiredOption('--user <email>', 'email of the user to share with (they must have registered)')
    .option('--can-edit', 'allow them to add and change records in the folder')
    .option('--can-share', 'allow them to share the folder with others')
    .addHelpText(
      'after',
      `
Running it again for the same user changes their permissions.

Examples:
  $ postern folder share "Production" --user bob@example.com
  $ postern folder share 3Rt0dV1Jm2Kq8m0dYc1xWg --user bob@example.com --can-edit`,
    )
    .action(async (folderName: string, options: ShareOptions, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const folderUid = await resolveFolderUid(vault, folderName);
        const permissions = { canEdit: options.canEdit === true, canShare: options.canShare === true };
        const { userUid } = await vault.shareFolder(folderUid, options.user, permissions);
        ctx.out.result({ folderUid, user: options.user.trim().toLowerCase(), userUid, ...permissions }, () => {
          const what = [permissions.canEdit ? 'edit' : null, permissions.canShare ? 'share' : null].filter(Boolean).join(' and ');
          ctx.out.line(`Shared folder ${folderUid} with ${options.user} (${what ? `can ${what}` : 'read-only'}).`);
        });
      });
    });
}
