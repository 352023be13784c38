/**
 * `postern role …`: roles and the role-based enforcement policies they grant. Only a Postern
 * administrator (the first account on a server) manages roles; anyone can read the list of
 * policies, and `postern whoami` shows their own.
 */
import type { Command } from 'commander';
import { contextOf } from '../context.ts';
import type { CliIo } from '../output.ts';
import { POLICY_INFO, POLICY_NAMES } from '../policies.ts';
import { withVault } from '../session.ts';
import { UsageError } from '../../../core/errors.ts';

/** `--policy a --policy b,c`, `all` for every policy; unknown names are a usage error. */
export function policiesFrom(values: string[] | undefined): string[] {
  const names = (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (names.length === 0) throw new UsageError('Give at least one --policy (see `postern role policies`).');
  if (names.some((n) => n.toLowerCase() === 'all')) return [...POLICY_NAMES];
  const unknown = names.filter((n) => !POLICY_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `Unknown polic${unknown.length > 1 ? 'ies' : 'y'} ${unknown.map((n) => `"${n}"`).join(', ')}. Known: ${POLICY_NAMES.join(', ')} (or "all").`,
    );
  }
  return [...new Set(names)];
}

const collectPolicy = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

const POLICY_HELP = `Policies (repeat --policy, or separate with commas; "all" grants every one):
${POLICY_INFO.map((p) => `  ${p.name.padEnd(26)}${p.title}`).join('\n')}`;

export function registerRoleCommands(program: Command, io: CliIo): void {
  const role = program
    .command('role')
    .description(
      'Roles and their enforcement policies: what people may do with gateways, rotation, connections and tunnels. ' +
        'A user holds a policy through any of their roles. Only a Postern administrator (the first account) manages roles.',
    );

  role
    .command('list')
    .description('List the roles, their policies and members.')
    .addHelpText('after', '\nExample:\n  $ postern role list')
    .action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const { roles } = await vault.listRoles();
        ctx.out.result({ roles: roles.map((r) => ({ roleUid: r.roleUid, name: r.name, policies: r.policies, members: r.members })) }, () =>
          ctx.out.table(
            ['ROLE', 'POLICIES', 'MEMBERS'],
            roles.map((r) => [r.name, r.policies.length === POLICY_NAMES.length ? `all (${r.policies.length})` : r.policies.join(', '), r.members.join(', ')]),
            'No roles. Add one with `postern role add NAME --policy POLICY`.',
          ),
        );
      });
    });

  role
    .command('add')
    .description('Create a role with the given policies. Assign it with `postern role assign`.')
    .argument('<name>', 'role name')
    .requiredOption('--policy <policy>', 'a policy the role grants (repeatable; see below)', collectPolicy)
    .addHelpText(
      'after',
      `
${POLICY_HELP}

Examples:
  $ postern role add Rotators --policy rotate --policy configure_rotation
  $ postern role add "Gateway admins" --policy manage_gateways,manage_applications`,
    )
    .action(async (name: string, options: { policy: string[] }, command: Command) => {
      const ctx = contextOf(command, io);
      const policies = policiesFrom(options.policy);
      await withVault(ctx, async (vault) => {
        const roleUid = await vault.addRole(name, policies);
        ctx.out.result({ roleUid, name, policies }, () => ctx.out.line(`Role "${name}" created with ${policies.join(', ')}.`));
      });
    });

  role
    .command('update')
    .description("Replace a role's policies with the given ones. Members get the new set on their next request.")
    .argument('<name>', 'role name')
    .requiredOption('--policy <policy>', 'a policy the role grants (repeatable; the list replaces the old one)', collectPolicy)
    .addHelpText('after', `\n${POLICY_HELP}\n\nExample:\n  $ postern role update Rotators --policy rotate`)
    .action(async (name: string, options: { policy: string[] }, command: Command) => {
      const ctx = contextOf(command, io);
      const policies = policiesFrom(options.policy);
      await withVault(ctx, async (vault) => {
        await vault.updateRole(name, policies);
        ctx.out.result({ name, policies }, () => ctx.out.line(`Role "${name}" now grants ${policies.join(', ')}.`));
      });
    });

  role
    .command('remove')
    .description('Delete a role. Its members lose the policies it granted (unless another of their roles grants them).')
    .argument('<name>', 'role name')
    .addHelpText('after', '\nExample:\n  $ postern role remove Rotators')
    .action(async (name: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        await vault.removeRole(name);
        ctx.out.result({ name, removed: true }, () => ctx.out.line(`Role "${name}" removed.`));
      });
    });

  role
    .command('assign')
    .description('Give a user a role (they need a Postern account on this server).')
    .argument('<name>', 'role name')
    .requiredOption('--user <email>', "the user's account email")
    .addHelpText('after', '\nExample:\n  $ postern role assign Rotators --user bob@example.com')
    .action(async (name: string, options: { user: string }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        await vault.assignRole(name, options.user);
        ctx.out.result({ name, user: options.user.trim().toLowerCase(), assigned: true }, () => ctx.out.line(`${options.user.trim()} now has role "${name}".`));
      });
    });

  role
    .command('unassign')
    .description('Take a role away from a user.')
    .argument('<name>', 'role name')
    .requiredOption('--user <email>', "the user's account email")
    .addHelpText('after', '\nExample:\n  $ postern role unassign Rotators --user bob@example.com')
    .action(async (name: string, options: { user: string }, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        await vault.unassignRole(name, options.user);
        ctx.out.result({ name, user: options.user.trim().toLowerCase(), assigned: false }, () =>
          ctx.out.line(`${options.user.trim()} no longer has role "${name}".`),
        );
      });
    });

  role
    .command('policies')
    .description('List the enforcement policies a role can grant, with what each allows.')
    .addHelpText('after', '\nExample:\n  $ postern role policies')
    .action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      ctx.out.result({ policies: POLICY_INFO.map((p) => ({ ...p })) }, () =>
        ctx.out.table(
          ['POLICY', 'DESCRIPTION'],
          POLICY_INFO.map((p) => [p.name, p.description]),
        ),
      );
    });
}
