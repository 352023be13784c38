/**
 * PostgreSQL rotation: `ALTER ROLE … WITH PASSWORD …` as the resource's admin (a CREATEROLE
 * role; on PostgreSQL 16+ one that also holds ADMIN OPTION on the user) or, without an admin,
 * as the user itself with its current password (every role may change its own password). A
 * verify is a plain login plus `select 1`.
 *
 * Decisions:
 *  - The password goes into the statement as a literal quoted by pg's escapeLiteral (utility
 *    statements such as ALTER ROLE take no bind parameters) and the role name as an identifier
 *    quoted by escapeIdentifier. Nothing from the record is ever concatenated raw.
 *  - TLS per ./tls.ts: required with useSSL, off with useSSL false, and otherwise used whenever
 *    the server offers it (plaintext only after the server's own "no SSL" answer).
 *  - It is sent in clear (over TLS when the connection has it) rather than as a SCRAM verifier computed here,
 *    so that the server's password checks (passwordcheck, credcheck, ...) can see and refuse
 *    it; the server hashes it per its password_encryption. The price: a server that logs DDL
 *    (log_statement = ddl/all) writes the statement to its own log. That is the DBA's log, not
 *    ours; ours and our errors never hold it.
 *  - Error messages are built here from SQLSTATE codes, host:port and role names. The server's
 *    message text is added only after every secret (raw and escaped) is cut out of it, and never
 *    for syntax errors, which quote the statement. The driver's error object is never attached.
 *  - Every client is closed on every path, and torn down at once when the job is cancelled.
 */
import pg from 'pg';
import type { RotationPlugin, RotationTarget } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';
import { UNREACHABLE_SOCKET_CODES, addressOf, clipped, endWithin, firstCause, passwordOf, withoutSecrets } from './common.ts';
import {
  WrongPassword,
  describeLogin,
  changeSession,
  loginSucceeds,
  verifySession,
  withDatabaseSession,
  type DatabaseDriver,
  type DatabaseSession as Session,
} from './database-session.ts';
import { checkTlsBeforeLogin, tlsOptionsOf, tlsVerifyHint } from './tls.ts';

const NAME = 'postgresql';
/** A client-side backstop after the server's own statement_timeout, for a peer that went silent. */
const QUERY_TIMEOUT_GRACE_MS = 2_000;
/** How long a polite close (Terminate message) may take before the socket is simply destroyed. */
const CLOSE_GRACE_MS = 1_000;

/** Socket-level error codes that mean "no usable connection to the server". */
const NETWORK_CODES = new Set([...UNREACHABLE_SOCKET_CODES, 'EADDRNOTAVAIL']);

/** Why a credential cannot be used: a key, where PostgreSQL roles log in by password. */
const keyRefused = (what: string): string => `${NAME}: ${what} is a key; PostgreSQL roles are rotated by password only`;

export const postgresPlugin: RotationPlugin = {
  name: NAME,

  checkTarget: checkTls,

  async change(target, next) {
    const newPassword = passwordOf(next, keyRefused('the new credential'));
    refuseUnsafePassword(newPassword, target.user.login);
    const session = changeSession(target, newPassword, keyRefused);
    const user = target.user.login;
    await withClient(target, session, async (client) => {
      target.log(`${NAME}: changing the password of role "${user}" on ${addressOf(target.endpoint)}`);
      const statement = `ALTER ROLE ${client.escapeIdentifier(user)} WITH PASSWORD ${client.escapeLiteral(newPassword)}`;
      try {
        await client.query(statement);
      } catch (err) {
        throw changeFailure(err, session, user);
      }
      target.log(`${NAME}: the password of role "${user}" was changed`);
    });
  },

  async verify(target, credential) {
    const password = passwordOf(credential, keyRefused('the credential to verify'));
    // PostgreSQL never stores an empty password (see refuseUnsafePassword), so it cannot be right;
    // and pg refuses to send one to a SCRAM server, which would read as a connection failure.
    if (password === '') return false;
    const session = verifySession(target, password);
    return loginSucceeds(target, NAME, `"${target.user.login}"`, () =>
      withClient(target, session, async (client) => {
        try {
          await client.query('select 1');
        } catch (err) {
          throw queryFailure(err, session, 'running `select 1`');
        }
      }),
    );
  },
};

/** PostgreSQL's SSLRequest: length 8, code 80877103; the server answers 'S' (TLS follows) or 'N'. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function checkTls(target: RotationTarget): Promise<void> {
  return checkTlsBeforeLogin(
    target,
    NAME,
    (socket) =>
      new Promise<boolean>((resolve, reject) => {
        socket.once('connect', () => socket.write(SSL_REQUEST));
        socket.once('data', (d: Buffer) => {
          const answer = d.subarray(0, 1).toString('latin1');
          if (answer === 'S' || answer === 'N') resolve(answer === 'S');
          else reject(new RotationFailure('unreachable', `${NAME}: ${addressOf(target.endpoint)} did not answer the TLS request like PostgreSQL`));
        });
      }),
  );
}

/**
 * Passwords PostgreSQL would not store as that password: an empty one clears the password
 * (with only a NOTICE), and one shaped like an MD5 or SCRAM verifier is stored as that verifier,
 * so its own text would never log in. Refused before anything is sent.
 */
function refuseUnsafePassword(password: string, user: string): void {
  if (password === '')
    throw new RotationFailure('policy_refused', `${NAME}: refusing to set an empty password for "${user}" (PostgreSQL would remove the password instead)`);
  if (/^md5[0-9a-f]{32}$/.test(password) || password.startsWith('SCRAM-SHA-256$')) {
    throw new RotationFailure(
      'policy_refused',
      `${NAME}: the new password for "${user}" looks like a stored password hash, which PostgreSQL would take as the hash itself`,
    );
  }
}

function who(session: Session): string {
  return describeLogin(`"${session.account.login}"`, session.role);
}

/**
 * Connect as `session`, run `step`, and always close the client. A cancelled job rejects at once
 * and destroys the socket, whatever the driver is waiting for.
 */
async function withClient<T>(target: RotationTarget, session: Session, step: (client: pg.Client) => Promise<T>): Promise<T> {
  const { endpoint, account } = session;
  const driver: DatabaseDriver<pg.Client> = {
    name: NAME,
    open: (tls) => {
      const c = new pg.Client({
        host: endpoint.hostname,
        port: endpoint.port,
        user: account.login,
        password: session.password,
        database: account.connectDatabase ?? 'postgres',
        // `false` (not undefined) so that PGSSLMODE and friends in the gateway's environment do not decide.
        ssl: tls ? tlsOptionsOf(endpoint) : false,
        connectionTimeoutMillis: target.timeoutMs,
        statement_timeout: target.timeoutMs,
        query_timeout: target.timeoutMs + QUERY_TIMEOUT_GRACE_MS,
        application_name: 'postern-gateway',
      });
      // A connection lost mid-query is reported through that query; a lost idle one only as an
      // 'error' event, which must have a listener or it would take the gateway down.
      c.on('error', () => {});
      return c;
    },
    connect: async (client) => {
      await client.connect();
    },
    // The server's 'N' to SSLRequest.
    offersNoTls: (err) => /does not support SSL/i.test(errorInfo(err).message ?? ''),
    connectFailure: (err, timedOut) => connectFailure(err, session, timedOut),
    close,
    destroy: (client) => client.connection.stream.destroy(),
  };
  return withDatabaseSession(target, session, driver, who(session), step);
}

async function close(client: pg.Client, polite: boolean): Promise<void> {
  if (polite) await endWithin(() => client.end(), CLOSE_GRACE_MS);
  client.connection.stream.destroy();
}

interface PgError {
  code?: string;
  message?: string;
}

function errorInfo(thrown: unknown): PgError {
  const err = firstCause(thrown);
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const e = err as { code?: unknown; message?: unknown };
  return {
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.message === 'string' ? { message: e.message } : {}),
  };
}

/** True for a server-side error (a five-character SQLSTATE), as opposed to a Node socket/TLS error. */
function isSqlState(code: string | undefined): code is string {
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code);
}

function isTlsError(info: PgError): boolean {
  return (
    /does not support SSL/i.test(info.message ?? '') ||
    /CERT|TLS|SSL|EPROTO/.test(info.code ?? '') ||
    /certificate|self[- ]signed|\bTLS\b|\bSSL\b/i.test(info.message ?? '')
  );
}

function connectFailure(err: unknown, session: Session, timedOut: boolean): RotationFailure {
  const info = errorInfo(err);
  const at = addressOf(session.endpoint);
  const code = info.code;
  if (isTlsError(info)) {
    if (/does not support SSL/i.test(info.message ?? '')) {
      return new RotationFailure('unreachable', `${NAME}: ${at} does not offer TLS, and this resource requires it (useSSL)`);
    }
    return new RotationFailure('unreachable', `${NAME}: the TLS handshake with ${at} failed (${code ?? 'TLS error'})${tlsVerifyHint(session.endpoint)}`);
  }
  if (!isSqlState(code)) {
    if (timedOut) return new RotationFailure('unreachable', `${NAME}: no answer from ${at} within ${session.timeoutMs} ms`);
    if (code && NETWORK_CODES.has(code)) return new RotationFailure('unreachable', `${NAME}: cannot reach ${at} (${code})`);
    if (/Connection terminated|timeout/i.test(info.message ?? '')) {
      return new RotationFailure('unreachable', `${NAME}: ${at} closed the connection before the login completed`);
    }
    // The driver's own refusals (a SASL exchange that does not add up, ...): a connection, but no login.
    return new RotationFailure('failed', `${NAME}: logging in to ${at} as ${who(session)} failed (${code ?? 'driver error'}${serverText(info, session)})`);
  }
  const detail = serverText(info, session);
  switch (code) {
    case '28P01':
      return new WrongPassword(`${NAME}: ${at} refused the password of ${who(session)} (28P01)`);
    case '28000': // no pg_hba.conf entry, role not permitted to log in, ...
      return new RotationFailure('admin_refused', `${NAME}: ${at} does not let ${who(session)} log in (28000${detail})`);
    case '42501': // no CONNECT privilege on the database
      return new RotationFailure('admin_refused', `${NAME}: ${who(session)} may not connect to database "${databaseOf(session)}" on ${at} (42501${detail})`);
    case '3D000':
      return new RotationFailure('failed', `${NAME}: database "${databaseOf(session)}" does not exist on ${at} (3D000)`);
    case '53300': // too many connections
    case '57P03': // starting up, shutting down, in recovery
      return new RotationFailure('unreachable', `${NAME}: ${at} accepts no connections now (${code}${detail})`);
    default:
      return new RotationFailure('failed', `${NAME}: ${at} refused the connection of ${who(session)} (${code}${detail})`);
  }
}

function changeFailure(err: unknown, session: Session, user: string): RotationFailure {
  const info = errorInfo(err);
  const at = addressOf(session.endpoint);
  const code = info.code;
  const detail = serverText(info, session);
  switch (code) {
    case '42704':
      return new RotationFailure('not_found', `${NAME}: role "${user}" does not exist on ${at} (42704)`);
    case '42501':
      return new RotationFailure(
        'admin_refused',
        session.role === 'admin'
          ? `${NAME}: admin "${session.account.login}" lacks the privilege to change the password of role "${user}" on ${at} (42501${detail})`
          : `${NAME}: role "${user}" may not change its own password on ${at} (42501${detail})`,
      );
    // passwordcheck and the other check_password_hook modules refuse with invalid_parameter_value;
    // the password is the only value in this statement.
    case '22023':
      return new RotationFailure('policy_refused', `${NAME}: ${at} refused the new password for role "${user}" (22023${detail})`);
    default:
      return queryFailure(err, session, `changing the password of role "${user}"`);
  }
}

function queryFailure(err: unknown, session: Session, doing: string): RotationFailure {
  const info = errorInfo(err);
  const at = addressOf(session.endpoint);
  const code = info.code;
  if (code === '57014') {
    return new RotationFailure('failed', `${NAME}: ${at} cancelled ${doing} after the ${session.timeoutMs} ms statement timeout (57014); nothing was changed`);
  }
  if (!isSqlState(code)) {
    // The socket died or went silent after the statement was sent: the server may have committed.
    return new RotationFailure(
      'failed',
      `${NAME}: lost the connection to ${at} while ${doing} (${code ?? 'connection closed or timed out'}); whether it was applied is unknown`,
    );
  }
  return new RotationFailure('failed', `${NAME}: ${at} failed ${doing} (${code}${serverText(info, session)})`);
}

function databaseOf(session: Session): string {
  return session.account.connectDatabase ?? 'postgres';
}

/**
 * `: <server message>` (or the driver's) with every secret cut out, or '' when it is unsafe.
 * Syntax errors (class 42601) quote the statement's text around the error, which could be a
 * fragment of the password in any case, so they contribute nothing but their code.
 */
function serverText(info: PgError, session: Session): string {
  if (!info.message || info.code === '42601') return '';
  // Each secret as written, and as the server may quote it back (escaped as a literal or doubled).
  const forms = session.secrets.flatMap((secret) => [
    ...new Set([secret, pg.escapeLiteral(secret), secret.replace(/'/g, "''"), secret.replace(/\\/g, '\\\\')]),
  ]);
  return `: ${clipped(withoutSecrets(info.message, forms, '***'), 300)}`;
}
