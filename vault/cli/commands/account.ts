/**
 * `postern register | login | logout | whoami`: the account and the saved session.
 */
import type { Command } from 'commander';
import { PosternError } from '../../../core/errors.ts';
import { fromBase64Url } from '../../../core/crypto/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../../core/vault-client/index.ts';
import { forgetSession, readConfig, saveSession } from '../config.ts';
import { contextOf, resolveServer, type CliContext } from '../context.ts';
import { isoTime, type CliIo } from '../output.ts';
import { MIN_MASTER_PASSWORD_LENGTH, promptLine, readMasterPassword } from '../password.ts';
import { withVault } from '../session.ts';

interface CredentialOptions {
  email?: string;
  passwordStdin?: boolean;
}

async function emailFor(ctx: CliContext, options: CredentialOptions, fallback?: string): Promise<string> {
  if (options.email && options.email.trim() !== '') return options.email.trim();
  if (fallback) return fallback;
  if (options.passwordStdin) throw new PosternError('bad_request', '--email is required with --password-stdin.');
  return promptLine(ctx.io, 'Email: ', '--email');
}

export function registerAccountCommands(program: Command, io: CliIo): void {
  program
    .command('register')
    .description(
      `Create a Postern account on the server. Keys are derived from the master password on this machine; ` +
        `the server only ever receives a hash of it and ciphertext. There is no password reset: ` +
        `a forgotten master password means a lost vault. At least ${MIN_MASTER_PASSWORD_LENGTH} characters.`,
    )
    .option('--email <email>', 'account email (asked for when omitted on a terminal)')
    .option('--password-stdin', 'read the master password from the first line of stdin instead of a prompt')
    .addHelpText(
      'after',
      `
Examples:
  $ postern register --email admin@example.com --server https://vault.example.com
  $ pass show postern/master | postern register --email admin@example.com --password-stdin`,
    )
    .action(async (options: CredentialOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const server = resolveServer(ctx);
      const email = await emailFor(ctx, options);
      const password = await readMasterPassword(io, { passwordStdin: options.passwordStdin === true, confirm: true });
      const transport = await VaultTransport.connect(server);
      const { userUid } = await registerAccount(transport, email, password);
      ctx.out.result({ server: transport.server, email: email.toLowerCase(), userUid }, () => {
        ctx.out.line(`Account ${email} created on ${transport.server}.`);
        ctx.out.line(`Next: postern login --email ${email}${ctx.serverOption ? ` --server ${transport.server}` : ''}`);
      });
    });

  program
    .command('login')
    .description(
      'Log in and save a session in $POSTERN_HOME/config.json (mode 0600) so later commands need no password. ' +
        'The file holds a session token and a session-only key, never the master password; `postern logout` ends the session. ' +
        'There is no POSTERN_PASSWORD variable: environment variables leak into child processes, /proc and CI logs.',
    )
    .option('--email <email>', 'account email (default: the email of the saved session; asked for on a terminal)')
    .option('--password-stdin', 'read the master password from the first line of stdin instead of a prompt')
    .addHelpText(
      'after',
      `
Examples:
  $ postern login --email admin@example.com --server https://vault.example.com
  $ pass show postern/master | postern login --email admin@example.com --password-stdin`,
    )
    .action(async (options: CredentialOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const server = resolveServer(ctx);
      const previous = readConfig(ctx.home, (t) => ctx.out.warn(t)).sessions[server];
      const email = await emailFor(ctx, options, previous?.email);
      const password = await readMasterPassword(io, { passwordStdin: options.passwordStdin === true, confirm: false });
      const transport = await VaultTransport.connect(server);
      if (previous && previous.routerPublicKey !== transport.routerPublicKeyB64) {
        ctx.out.warn(
          `The server ${server} presents a different key than at your last login. ` +
            'If its data directory was not deliberately replaced, stop and ask its administrator before trusting it.',
        );
      }
      const vault = await VaultClient.login(transport, email, password);
      saveSession(ctx.home, vault.session);
      if (previous && previous.routerPublicKey === transport.routerPublicKeyB64) {
        // End the session being replaced so it does not linger on the server until it expires.
        await new VaultTransport(server, fromBase64Url(previous.routerPublicKey)).call('account.logout', {}, previous.sessionToken).catch(() => undefined);
      }
      ctx.out.result({ server: vault.session.server, email: vault.session.email, userUid: vault.session.userUid }, () => {
        ctx.out.line(`Logged in to ${vault.session.server} as ${vault.session.email}.`);
      });
    });

  program
    .command('logout')
    .description('End the saved session on the server and remove it from this machine.')
    .addHelpText('after', '\nExample:\n  $ postern logout')
    .action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      const server = resolveServer(ctx);
      const session = readConfig(ctx.home, (t) => ctx.out.warn(t)).sessions[server];
      if (!session) {
        ctx.out.result({ server, loggedOut: false }, () => ctx.out.line(`Not logged in to ${server}; nothing to do.`));
        return;
      }
      let endedOnServer = true;
      try {
        await new VaultTransport(server, fromBase64Url(session.routerPublicKey)).call('account.logout', {}, session.sessionToken);
      } catch (err) {
        // An expired session is already over; anything else is worth saying, but the local copy goes regardless.
        endedOnServer = false;
        if (!(err instanceof PosternError && (err.code === 'unauthorized' || err.code === 'session_expired'))) {
          ctx.out.warn(`Could not end the session on the server (${(err as Error).message}); it will expire on its own.`);
        }
      }
      forgetSession(ctx.home, server);
      ctx.out.result({ server, email: session.email, loggedOut: true, endedOnServer }, () => ctx.out.line(`Logged out of ${server} (${session.email}).`));
    });

  program
    .command('whoami')
    .description('Show the account and server of the saved session, when the session expires, and the enforcement policies your roles grant.')
    .addHelpText('after', '\nExample:\n  $ postern whoami --json')
    .action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, io);
      await withVault(ctx, async (vault) => {
        const [me, mine] = await Promise.all([vault.whoami(), vault.myPolicies()]);
        const value = {
          server: vault.session.server,
          email: me.email,
          userUid: me.userUid,
          sessionExpiresAt: isoTime(me.sessionExpiresAt),
          administrator: mine.administrator,
          policies: mine.policies,
        };
        ctx.out.result(value, () =>
          ctx.out.pairs([
            ['Server', value.server],
            ['Email', value.email],
            ['User UID', value.userUid],
            ['Session expires', value.sessionExpiresAt],
            ['Administrator', value.administrator ? 'yes (manages roles: `postern role`)' : 'no'],
            ['Policies', value.policies.length > 0 ? value.policies.join(', ') : 'none (ask a Postern administrator for a role)'],
          ]),
        );
      });
    });
}
