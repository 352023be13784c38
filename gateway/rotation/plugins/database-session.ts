/**
 * What the two SQL database plugins (./mysql.ts, ./postgres.ts) share beyond ./common.ts: the
 * session a step logs in with, how messages name who logs in, the connect-run-close of a session
 * whatever the driver, the failure of a cancelled step, and the wrong-password failure that
 * verify() turns into `false`.
 */
import type { Account, Endpoint, RotationTarget } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';
import { addressOf, passwordOf, secretsOf, unlessCancelled } from './common.ts';
import { tlsDescription, tlsModeOf } from './tls.ts';

/** Who a database session logs in as: the admin, the user rotating itself, or the user being verified. */
export type SessionRole = 'admin' | 'self' | 'user';

/** One login to a database server, and what its messages need. */
export interface DatabaseSession {
  endpoint: Endpoint;
  account: Account;
  password: string;
  role: SessionRole;
  /** Every secret this step knows about; cut out of any server text before it reaches a message. */
  secrets: readonly string[];
  timeoutMs: number;
}

/** `quotedLogin` as messages name it in `role`: `admin 'x'`, `'x' (rotating itself with its current password)`, or `'x'`. */
export function describeLogin(quotedLogin: string, role: SessionRole): string {
  if (role === 'admin') return `admin ${quotedLogin}`;
  if (role === 'self') return `${quotedLogin} (rotating itself with its current password)`;
  return quotedLogin;
}

/** A database job cancelled at `stage`; once connected, a statement already sent may have been applied. */
export function cancelledSession(name: string, endpoint: Endpoint, stage: string, maybeApplied: boolean): RotationFailure {
  const applied = maybeApplied ? '; a change already sent may or may not have been applied' : '';
  return new RotationFailure('failed', `${name}: cancelled ${stage} to ${addressOf(endpoint)}${applied}`);
}

/** A login refused as a wrong password: `admin_refused` for change(), `false` for verify(). */
export class WrongPassword extends RotationFailure {
  constructor(message: string) {
    super('admin_refused', message);
  }
}

/**
 * The session change() logs in with: the admin when the resource names one, else the user
 * rotating itself with its current password. `keyRefused` words the refusal of a key credential.
 */
export function changeSession(target: RotationTarget, newPassword: string, keyRefused: (what: string) => string): DatabaseSession {
  const actor = target.admin ?? target.user;
  return {
    endpoint: target.endpoint,
    account: actor,
    password: passwordOf(actor.credential, keyRefused(target.admin ? "the admin's credential" : "the user's current credential")),
    role: target.admin ? 'admin' : 'self',
    secrets: secretsOf(target, newPassword),
    timeoutMs: target.timeoutMs,
  };
}

/** The session verify() logs in with: the user itself, with the password being verified. */
export function verifySession(target: RotationTarget, password: string): DatabaseSession {
  return { endpoint: target.endpoint, account: target.user, password, role: 'user', secrets: secretsOf(target, password), timeoutMs: target.timeoutMs };
}

/**
 * verify()'s answer: true when `login` succeeds, false when the server refuses the password
 * (WrongPassword); any other failure (unreachable, TLS, cancelled) is thrown, not a "no".
 */
export async function loginSucceeds(target: RotationTarget, name: string, quotedLogin: string, login: () => Promise<unknown>): Promise<boolean> {
  try {
    await login();
  } catch (err) {
    if (err instanceof WrongPassword) {
      target.log(`${name}: ${addressOf(target.endpoint)} refused the login of ${quotedLogin}`);
      return false;
    }
    throw err;
  }
  target.log(`${name}: ${quotedLogin} logged in to ${addressOf(target.endpoint)}`);
  return true;
}

/** How one SQL plugin drives its client library, for withDatabaseSession. */
export interface DatabaseDriver<Client> {
  /** The plugin's name in messages. */
  readonly name: string;
  /** A new client for the session, with TLS or in plaintext; not connected yet. */
  open(tls: boolean): Client;
  /** Connects and logs in. */
  connect(client: Client): Promise<void>;
  /** True for the server's own "no TLS here", the one answer that lets `prefer` go on in plaintext. */
  offersNoTls(err: unknown): boolean;
  /** The failure of a connection that did not come up (`timedOut`: it took the whole timeout). */
  connectFailure(err: unknown, timedOut: boolean): RotationFailure;
  /** Ends the client: its goodbye first when `polite` (bounded), then the socket. */
  close(client: Client, polite: boolean): Promise<void>;
  /** Cuts the socket now, whatever the driver is waiting for (a cancelled job). */
  destroy(client: Client): void;
}

/**
 * Connects as `session` with TLS as the endpoint's mode says, runs `step`, and always closes the
 * client. `prefer` goes on in plaintext only when the server itself says it has no TLS, before
 * any credential was sent; a failed handshake or certificate never does. A cancelled job rejects
 * at once and cuts the socket.
 */
export async function withDatabaseSession<Client, T>(
  target: RotationTarget,
  session: DatabaseSession,
  driver: DatabaseDriver<Client>,
  who: string,
  step: (client: Client) => Promise<T>,
): Promise<T> {
  const { endpoint } = session;
  if (target.signal.aborted) throw cancelledSession(driver.name, endpoint, 'before connecting', false);
  target.log(`${driver.name}: connecting to ${addressOf(endpoint)} as ${who}`);
  const mode = tlsModeOf(endpoint);
  let usedTls = mode !== 'off';
  let client = driver.open(usedTls);
  let stage = 'while connecting';
  let connected = false;

  const run = async (): Promise<T> => {
    const started = Date.now();
    try {
      try {
        await driver.connect(client);
      } catch (err) {
        if (mode !== 'prefer' || !driver.offersNoTls(err)) throw err;
        await driver.close(client, false);
        usedTls = false;
        client = driver.open(false);
        await driver.connect(client);
      }
    } catch (err) {
      throw driver.connectFailure(err, Date.now() - started >= session.timeoutMs);
    }
    target.log(`${driver.name}: ${addressOf(endpoint)}: ${tlsDescription(endpoint, usedTls)}`);
    connected = true;
    stage = 'after connecting';
    return step(client);
  };

  try {
    return await unlessCancelled(target.signal, run(), () => {
      const failure = cancelledSession(driver.name, endpoint, stage, stage !== 'while connecting');
      driver.destroy(client);
      return failure;
    });
  } finally {
    await driver.close(client, connected && !target.signal.aborted);
  }
}
