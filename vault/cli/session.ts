/**
 * Opening the vault from the saved session: no master password needed while the session
 * lasts. When the Router says the session is over, the user is told to log in again.
 */
import { fromBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { readConfig } from './config.ts';
import { resolveServer, type CliContext } from './context.ts';

function loginHint(server: string): string {
  return `Run \`postern login --server ${server}\`.`;
}

/** Rewrites `unauthorized` / `session_expired` into advice; other errors pass unchanged. */
export function explainSessionError(err: unknown, server: string): unknown {
  if (err instanceof PosternError && (err.code === 'unauthorized' || err.code === 'session_expired')) {
    return new PosternError(err.code, `Your session on ${server} has ended or is no longer valid (${err.message.replace(/\.$/, '')}). ${loginHint(server)}`);
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
    return await VaultClient.resume(transport, session);
  } catch (err) {
    throw explainSessionError(err, server);
  }
}

/** Runs `fn` with the logged-in vault, turning session errors into "log in again". */
export async function withVault<T>(ctx: CliContext, fn: (vault: VaultClient) => Promise<T>): Promise<T> {
  const vault = await openVault(ctx);
  try {
    return await fn(vault);
  } catch (err) {
    throw explainSessionError(err, vault.session.server);
  }
}
