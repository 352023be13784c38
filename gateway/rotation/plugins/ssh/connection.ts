/**
 * Authenticated SSH connections: the admin's or the user's credential as ssh2 auth methods
 * (a key, or a password also answered through keyboard-interactive), the host key checked on
 * every connection (./host-key.ts), refusals and network failures turned into the reasons the
 * engine decides on, and a connection that is always closed after the work done on it.
 */
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client as SshClient } from 'ssh2';
import type { Account, RotationTarget } from '../../plugin.ts';
import { RotationFailure } from '../../plugin.ts';
import { settleOnce } from '../common.ts';
import { hostKeyCheck } from './host-key.ts';
import { privateKeyOf } from './keys.ts';
import { cancelled } from './messages.ts';

const { Client } = ssh2;

export type Role = 'admin' | 'user';

function authMethods(account: Account, target: RotationTarget, role: Role): AnyAuthMethod[] {
  const username = account.login;
  const c = account.credential;
  if (c.kind === 'key') {
    const key = privateKeyOf(c, target, role === 'admin' ? "the admin's" : 'the');
    return [{ type: 'publickey', username, key }];
  }
  return [
    { type: 'password', username, password: c.password },
    // sshd with UsePAM often offers keyboard-interactive alone (PasswordAuthentication no). Answer
    // a single hidden prompt with the password; anything else (OTP, several prompts) is not ours
    // to answer, so we send nothing and let the server refuse.
    {
      type: 'keyboard-interactive',
      username,
      prompt: (_name, _instructions, _lang, prompts, finish) => {
        if (prompts.length === 1 && prompts[0] && !prompts[0].echo) finish([c.password]);
        else finish([]);
      },
    },
  ];
}

/**
 * Open an authenticated connection. Refused credentials become `admin_refused` (the admin's, or
 * the user's own when it rotates itself); no connection, timeouts and failed handshakes become
 * `unreachable`.
 */
export function connect(target: RotationTarget, account: Account, role: Role): Promise<SshClient> {
  const { hostname, port } = target.endpoint;
  const authHandler = authMethods(account, target, role);
  const hostKey = hostKeyCheck(target);
  return new Promise((resolve, reject) => {
    if (target.signal.aborted) return reject(cancelled(target));
    const client = new Client();
    const finish = settleOnce(
      target.signal,
      () => cancelled(target),
      (err) => {
        if (err) {
          client.end();
          reject(err);
        } else resolve(client);
      },
    );
    client.on('ready', () => {
      target.log(`ssh: connected to ${hostname}:${port} as '${account.login}'`);
      finish(null);
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKey.seen && /Host denied/.test(err.message)) return finish(hostKey.mismatch());
      if (err.level === 'client-authentication') {
        const who = `${role === 'admin' ? 'the admin' : 'the user'} '${account.login}'`;
        finish(new RotationFailure('admin_refused', `ssh ${hostname}:${port}: ${who} was refused (${account.credential.kind} authentication failed)`));
      } else if (
        err.level === 'client-socket' ||
        err.level === 'client-timeout' ||
        err.level === 'client-dns' ||
        err.level === 'handshake' ||
        err.level === 'protocol'
      ) {
        const why = err.code ?? (err.level === 'client-timeout' ? `no SSH handshake within ${target.timeoutMs} ms` : (err.level ?? 'error'));
        finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${why})`));
      } else {
        finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: connection failed (${err.code ?? err.level ?? 'error'})`));
      }
    });
    client.on('close', () => finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: connection closed before login`)));
    try {
      client.connect({
        host: hostname,
        port,
        username: account.login,
        readyTimeout: target.timeoutMs,
        authHandler,
        hostVerifier: (key: Buffer) => {
          const ok = hostKey.verify(key);
          // Only a rotation outside the engine (which pins first) gets here without a pin.
          if (ok && !target.endpoint.hostKey) target.log(`ssh: ${hostname}:${port} host key ${hostKey.seen?.fingerprint} (not pinned)`);
          return ok;
        },
        ...(hostKey.algorithms ? { algorithms: { serverHostKey: hostKey.algorithms as never } } : {}),
      });
    } catch (err) {
      finish(new RotationFailure('unreachable', `ssh ${hostname}:${port}: cannot connect (${(err as { code?: string }).code ?? 'bad connection settings'})`));
    }
  });
}

export async function withConnection<T>(target: RotationTarget, account: Account, role: Role, body: (client: SshClient) => Promise<T>): Promise<T> {
  const client = await connect(target, account, role);
  try {
    return await body(client);
  } finally {
    client.end();
  }
}
