/**
 * What the two SQL database plugins (./mysql.ts, ./postgres.ts) share beyond ./common.ts: the
 * session a step logs in with, how messages name who logs in, the failure of a cancelled step,
 * and the wrong-password failure that verify() turns into `false`.
 */
import type { Account, Endpoint, RotationTarget } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';
import { addressOf } from './common.ts';

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

/** The session verify() logs in with: the user itself, with the password being verified. */
export function verifySession(target: RotationTarget, password: string, secrets: readonly string[]): DatabaseSession {
  return { endpoint: target.endpoint, account: target.user, password, role: 'user', secrets, timeoutMs: target.timeoutMs };
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
