/**
 * `postern register | login | logout | whoami`: the account and the saved session.
 */
import type { Command } from 'commander';
import { PosternError } from '../../../core/errors.ts';
import { fromBase64Url } from '../../../core/crypto/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../../core/vault-client/index.ts';
import { forgetSession, readConfig, saveSession, trustRouterKey } from '../config.ts';
import { contextOf, resolveServer, type CliContext } from '../context.ts';
import { isoTime, type CliIo } from '../output.ts';
import { MIN_MASTER_PASSWORD_LENGTH, promptLine, readMasterPassword } from '../password.ts';
import { confirmRouterKey, withVault } from '../session.ts';

interface CredentialOptions {
  email?: string;
  passwordStdin?: boolean;
  acceptNewRouterKey?: string;
}

interface RegisterOptions extends CredentialOptions {
  invite?: string;
}

const ACCEPT_KEY_HELP = 'continue although the server presents another Router key than the one trusted here, if its fingerprint is FINGERPRINT (SHA256:…)';

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
    .option('--invite <code>', 'the invitation code from an administrator (`postern invite add`); asked for on a terminal when the server needs one')
    .option('--accept-new-router-key <fingerprint>', ACCEPT_KEY_HELP)
    .addHelpText(
      'after',
      `
The first account on a server needs no invitation and becomes its administrator. After that a
server registers by invitation, unless it runs with --open-registration. The answer is the same
whether or not the email already has an account (so that nobody can find out who is registered):
an existing account is left unchanged, and only its own master password opens it.

Examples:
  $ postern register --email admin@example.com --server https://vault.example.com
  $ postern register --email bob@example.com --invite 7KQ2M-XH4PD-9WZ3N-R8VTB-6CJ1F
  $ pass show postern/master | postern register --email admin@example.com --password-stdin`,
    )
    .action(async (options: RegisterOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const server = resolveServer(ctx);
      const transport = await VaultTransport.connect(server);
      await confirmRouterKey(ctx, transport.server, transport.routerPublicKey, options.acceptNewRouterKey);
      const email = await emailFor(ctx, options);
      const password = await readMasterPassword(io, { passwordStdin: options.passwordStdin === true, confirm: true });
      let userUid: string;
      try {
        ({ userUid } = await registerAccount(transport, email, password, options.invite !== undefined ? { invitation: options.invite } : {}));
      } catch (err) {
        // On a terminal, a server that registers by invitation gets the code from a prompt.
        if (!(err instanceof PosternError && err.code === 'not_allowed' && options.invite === undefined && io.stdin.isTTY)) throw err;
        const invitation = await promptLine(io, 'This server registers by invitation. Invitation code: ', '--invite');
        ({ userUid } = await registerAccount(transport, email, password, { invitation }));
      }
      trustRouterKey(ctx.home, transport.server, transport.routerPublicKeyB64);
      ctx.out.result({ server: transport.server, email: email.toLowerCase(), userUid }, () => {
        ctx.out.line(`Registration of ${email} accepted by ${transport.server}.`);
        ctx.out.line(
          'The server gives this same answer when the email already has an account, so that nobody can find out who is registered; ' +
            'such an account is left unchanged and opens only with its own master password.',
        );
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
    .option('--accept-new-router-key <fingerprint>', ACCEPT_KEY_HELP)
    .addHelpText(
      'after',
      `
The Router key the server presents is checked against the one trusted at the last login or
registration on this machine (as SSH checks host keys): a different key is refused unless you
confirm it, by answering y on a terminal or with --accept-new-router-key FINGERPRINT.

Examples:
  $ postern login --email admin@example.com --server https://vault.example.com
  $ pass show postern/master | postern login --email admin@example.com --password-stdin`,
    )
    .action(async (options: CredentialOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const server = resolveServer(ctx);
      const previous = readConfig(ctx.home, (t) => ctx.out.warn(t)).sessions[server];
      // Checked before the master password is asked for: nothing derived from it goes to an unconfirmed key.
      const transport = await VaultTransport.connect(server);
      await confirmRouterKey(ctx, server, transport.routerPublicKey, options.acceptNewRouterKey);
      const email = await emailFor(ctx, options, previous?.email);
      const password = await readMasterPassword(io, { passwordStdin: options.passwordStdin === true, confirm: false });
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
