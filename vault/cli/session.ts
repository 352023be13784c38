/**
 * Opening the vault from the saved session: no master password needed while the session
 * lasts. When the Router says the session is over, the user is told to log in again.
 */
import { fromBase64Url, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { routerKeyFingerprint, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { knownRouterKey, readConfig, seenRevisionsPath, seenRevisionsStore } from './config.ts';
import { resolveServer, type CliContext } from './context.ts';
import { readStdinLine } from './password.ts';

function loginHint(server: string): string {
  return `Run \`postern login --server ${server}\`.`;
}

/** Rewrites `unauthorized` / `session_expired` into advice; other errors pass unchanged. */
export function explainSessionError(err: unknown, server: string, home = '$POSTERN_HOME'): unknown {
  if (err instanceof PosternError && (err.code === 'unauthorized' || err.code === 'session_expired')) {
    return new PosternError(err.code, `Your session on ${server} has ended or is no longer valid (${err.message.replace(/\.$/, '')}). ${loginHint(server)}`);
  }
  if (err instanceof PosternError && err.code === 'rollback_detected') {
    // The memory is kept on purpose: forgetting it is a decision for after the administrator has answered.
    return new PosternError(
      err.code,
      `${err.message} If the administrator confirms the server was deliberately restored from a backup, remove ${seenRevisionsPath(home)} to accept the older data.`,
      err.details,
    );
  }
  return err;
}

export async function openVault(ctx: CliContext): Promise<VaultClient> {
  const server = resolveServer(ctx);
  const session = readConfig(ctx.home, (t) => ctx.out.warn(t)).sessions[server];
  if (!session) throw new PosternError('unauthorized', `You are not logged in to ${server}. ${loginHint(server)}`);
  // The Router key saved at login is pinned: a server presenting another key cannot read requests.
  const transport = new VaultTransport(server, fromBase64Url(session.routerPublicKey));
  try {
    return await VaultClient.resume(transport, session, { revisions: seenRevisionsStore(ctx.home, server, session.userUid) });
  } catch (err) {
    throw explainSessionError(err, server, ctx.home);
  }
}

/** Runs `fn` with the logged-in vault, turning session errors into "log in again". */
export async function withVault<T>(ctx: CliContext, fn: (vault: VaultClient) => Promise<T>): Promise<T> {
  const vault = await openVault(ctx);
  try {
    return await fn(vault);
  } catch (err) {
    throw explainSessionError(err, vault.session.server, ctx.home);
  }
}

/**
 * Like SSH's known_hosts: before sending anything derived from the master password, the key the
 * server presents must be the one trusted at the last login or registration on this machine, or
 * the user must accept the new one, by typing y on a terminal or by passing its fingerprint
 * (`--accept-new-router-key`) in a script. The first contact with a server trusts its key.
 */
export async function confirmRouterKey(ctx: CliContext, server: string, presented: Uint8Array, acceptFingerprint: string | undefined): Promise<void> {
  const known = knownRouterKey(
    readConfig(ctx.home, (t) => ctx.out.warn(t)),
    server,
  );
  const presentedFingerprint = routerKeyFingerprint(presented);
  if (known === undefined || known === toBase64Url(presented)) return;
  const knownFingerprint = routerKeyFingerprint(known);
  const details = { server, knownFingerprint, presentedFingerprint };
  const summary =
    `The server ${server} presents a different Router key than the one trusted for it on this machine ` +
    `(trusted ${knownFingerprint}, now ${presentedFingerprint}). Someone may be impersonating the server, or its key was replaced ` +
    `(a new data directory, a restore).`;
  if (acceptFingerprint !== undefined) {
    if (acceptFingerprint.trim() === presentedFingerprint) return;
    throw new PosternError(
      'router_key_changed',
      `${summary} --accept-new-router-key ${acceptFingerprint.trim()} does not match the key presented now; nothing was sent.`,
      details,
    );
  }
  if (ctx.io.stdin.isTTY) {
    ctx.io.stderr.write(
      `WARNING: ${summary}\nAsk the server's administrator for its key fingerprint before accepting.\nTrust ${presentedFingerprint} for ${server} and continue? [y/N] `,
    );
    const answer = (await readStdinLine(ctx.io, 'an answer')).trim();
    if (/^y(es)?$/i.test(answer)) return;
  }
  throw new PosternError(
    'router_key_changed',
    `${summary} Nothing was sent. Ask the server's administrator whether the key was replaced and for its fingerprint; ` +
      `if it is ${presentedFingerprint}, run the command again on a terminal and answer y, or add --accept-new-router-key ${presentedFingerprint}.`,
    details,
  );
}
