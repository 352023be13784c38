/**
 * MySQL and MariaDB rotation: `ALTER USER 'name'@'host' IDENTIFIED BY …` as the resource's admin
 * (an account with the global CREATE USER privilege) or, without an admin, the user changing its
 * own password with its current one. A verify is a plain login plus `select 1`.
 *
 * Decisions:
 *  - The account's host part: a MySQL account is `'name'@'host'`, and the pamUser's login is
 *    usually just the name. The plugin takes '%' (any host), which is how application accounts
 *    are normally created, unless the login is written `name@host` (e.g. `app@10.0.%`); then the
 *    part after the LAST '@' is the host, so a name that itself contains '@' is written
 *    `me@example.com@%`. Quotes around either part ('app'@'%', `app`@`%`) are accepted. The name
 *    alone is what logs in; the host part only selects the account to alter.
 *  - Self-rotation changes CURRENT_USER() (the account the server actually matched, whatever its
 *    host part): on MySQL with `ALTER USER CURRENT_USER() IDENTIFIED BY ?`; on MariaDB, which
 *    wants CREATE USER even for that, with `SET PASSWORD = PASSWORD(?)`, which any account may
 *    run for itself.
 *  - Values go through mysql2's client-side placeholders (`?`, escaped by the driver), never raw
 *    concatenation. That escaping uses backslashes, which a server running with the sql_mode
 *    NO_BACKSLASH_ESCAPES reads differently, so the plugin drops that mode for its own session
 *    first; the statement is then parsed exactly as escaped.
 *  - ALTER USER … IDENTIFIED BY replaces every authentication method of the account with a
 *    password one (MariaDB: `mysql_native_password`, MySQL: the default plugin). That is what a
 *    password rotation means; accounts that also log in through unix_socket lose that way.
 *  - A MySQL/MariaDB admin with CREATE USER can change ANY account's password, root's included:
 *    give the admin exactly that privilege, and expect the server (not this plugin) to enforce
 *    nothing narrower.
 *  - Error messages are built here from error numbers, host:port and account names. The
 *    server's text is added only with every secret cut out of it, and never for parse errors,
 *    which quote the statement; mysql2's error object, whose `sql` holds the whole statement with
 *    the password, is never attached or logged.
 *  - TLS per ./tls.ts: required with useSSL, off with useSSL false, and otherwise used whenever
 *    the server's handshake says it can (plaintext only when its capability flags lack SSL,
 *    which mysql2 reports before any credential is sent). With an IP address as the host,
 *    mysql2 checks the certificate's chain but not the name in it.
 *  - Timeouts: target.timeoutMs bounds the connect and, client-side, each statement (MySQL has no
 *    statement timeout that covers ALTER USER on both servers). Every connection is closed on
 *    every path, and destroyed at once when the job is cancelled.
 */
import mysql from 'mysql2';
import type { Connection as PromiseConnection, RowDataPacket } from 'mysql2/promise';
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

const NAME = 'mysql';
/** How long a polite close (COM_QUIT) may take before the socket is simply destroyed. */
const CLOSE_GRACE_MS = 1_000;

/** Error codes that mean "no usable connection to the server" (mysql2 adds its own for a lost connection). */
const NETWORK_CODES = new Set([...UNREACHABLE_SOCKET_CODES, 'EADDRNOTAVAIL', 'PROTOCOL_CONNECTION_LOST']);

/** Why a credential cannot be used: a key, where MySQL accounts log in by password. */
const keyRefused = (what: string): string => `${NAME}: ${what} is a key; MySQL accounts are rotated by password only`;

/** `name@host` → the account name that logs in and the host part that selects the account (see top). */
export function mysqlAccount(login: string): { name: string; host: string } {
  const at = login.lastIndexOf('@');
  if (at <= 0 || at === login.length - 1) return { name: unquote(login), host: '%' };
  return { name: unquote(login.slice(0, at)), host: unquote(login.slice(at + 1)) };
}

function unquote(part: string): string {
  const m = /^(['"`])(.*)\1$/s.exec(part);
  return m ? m[2]! : part;
}

export const mysqlPlugin: RotationPlugin = {
  name: NAME,

  checkTarget: checkTls,

  async change(target, next) {
    const newPassword = passwordOf(next, keyRefused('the new credential'));
    const user = mysqlAccount(target.user.login);
    const account = `'${user.name}'@'${user.host}'`;
    if (newPassword === '') {
      throw new RotationFailure('policy_refused', `${NAME}: refusing to set an empty password for ${account} (it would let the account log in without one)`);
    }
    const session = changeSession(target, newPassword, keyRefused);
    await withConnection(target, session, async (conn) => {
      const server = await prepareSession(conn, session);
      let sql: string;
      let values: string[];
      if (target.admin) {
        sql = 'ALTER USER ?@? IDENTIFIED BY ?';
        values = [user.name, user.host, newPassword];
      } else if (server.mariadb) {
        sql = 'SET PASSWORD = PASSWORD(?)';
        values = [newPassword];
      } else {
        sql = 'ALTER USER CURRENT_USER() IDENTIFIED BY ?';
        values = [newPassword];
      }
      const subject = target.admin ? account : `its own account (${server.currentUser})`;
      target.log(`${NAME}: changing the password of ${subject} on ${addressOf(target.endpoint)}`);
      try {
        await conn.query({ sql, values, timeout: target.timeoutMs });
      } catch (err) {
        throw changeFailure(err, session, account, await policyConditions(conn, err, session));
      }
      target.log(`${NAME}: the password of ${subject} was changed`);
    });
  },

  async verify(target, credential) {
    const password = passwordOf(credential, keyRefused('the credential to verify'));
    // An empty password would test "does the account have no password", not a credential.
    if (password === '') return false;
    const session = verifySession(target, password);
    return loginSucceeds(target, NAME, `'${mysqlAccount(target.user.login).name}'`, () =>
      withConnection(target, session, async (conn) => {
        try {
          await conn.query({ sql: 'SELECT 1', timeout: target.timeoutMs });
        } catch (err) {
          throw queryFailure(err, session, 'running `SELECT 1`');
        }
      }),
    );
  },
};

const CLIENT_SSL = 0x0800;

/**
 * The TLS check before a rotation (./tls.ts): read the server's greeting; if its capability flags
 * offer SSL, send the protocol's SSLRequest (capability flags, max packet, charset utf8mb4: no
 * user name, no credential), after which the TLS handshake starts.
 */
function checkTls(target: RotationTarget): Promise<void> {
  const at = addressOf(target.endpoint);
  return checkTlsBeforeLogin(
    target,
    NAME,
    (socket) =>
      new Promise<boolean>((resolve, reject) => {
        let got = Buffer.alloc(0);
        socket.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length < 4 || got.length < 4 + got.readUIntLE(0, 3)) return;
          const greeting = got.subarray(4, 4 + got.readUIntLE(0, 3));
          if (greeting[0] === 0xff)
            return reject(
              new RotationFailure(
                'unreachable',
                `${NAME}: ${at} refused the connection before the login (${greeting.length >= 3 ? greeting.readUInt16LE(1) : 'error'})`,
              ),
            );
          const versionEnd = greeting.indexOf(0, 1);
          const capsAt = versionEnd + 1 + 4 + 8 + 1;
          if (greeting[0] !== 10 || versionEnd < 0 || greeting.length < capsAt + 2)
            return reject(new RotationFailure('unreachable', `${NAME}: ${at} did not greet like MySQL or MariaDB`));
          if ((greeting.readUInt16LE(capsAt) & CLIENT_SSL) === 0) return resolve(false);
          const request = Buffer.alloc(4 + 32);
          request.writeUIntLE(32, 0, 3);
          request[3] = 1;
          request.writeUInt32LE(CLIENT_SSL | 0x0200 | 0x8000 | 0x0001, 4); // SSL, protocol 4.1, secure connection, long password
          request.writeUInt32LE(0x01000000, 8);
          request[12] = 45; // utf8mb4
          socket.write(request);
          resolve(true);
        });
      }),
  );
}

function who(session: Session): string {
  return describeLogin(`'${mysqlAccount(session.account.login).name}'`, session.role);
}

/**
 * Make the session parse our escaping as written (no NO_BACKSLASH_ESCAPES) and tell MariaDB from
 * MySQL, in one round trip.
 */
async function prepareSession(conn: PromiseConnection, session: Session): Promise<{ mariadb: boolean; currentUser: string }> {
  let row: RowDataPacket | undefined;
  try {
    const [rows] = await conn.query<RowDataPacket[]>({
      sql: 'SELECT @@SESSION.sql_mode AS mode, VERSION() AS version, CURRENT_USER() AS me',
      timeout: session.timeoutMs,
    });
    row = rows[0];
    const modes = String(row?.['mode'] ?? '').split(',');
    if (modes.includes('NO_BACKSLASH_ESCAPES')) {
      await conn.query({ sql: 'SET SESSION sql_mode = ?', values: [modes.filter((m) => m !== 'NO_BACKSLASH_ESCAPES').join(',')], timeout: session.timeoutMs });
    }
  } catch (err) {
    throw queryFailure(err, session, 'preparing the session');
  }
  return { mariadb: /mariadb/i.test(String(row?.['version'] ?? '')), currentUser: String(row?.['me'] ?? 'unknown') };
}

/**
 * Connect as `session`, run `step`, and always close the connection. A cancelled job rejects at
 * once and destroys the connection, also one still in its handshake: that is why the connection
 * is opened with the core createConnection (whose handle exists from the start) and only then
 * wrapped in its promise API, rather than with mysql2/promise's createConnection, which hands out
 * nothing until the handshake is done.
 */
async function withConnection<T>(target: RotationTarget, session: Session, step: (conn: PromiseConnection) => Promise<T>): Promise<T> {
  const { endpoint } = session;
  const driver: DatabaseDriver<{ core: mysql.Connection; conn: PromiseConnection }> = {
    name: NAME,
    open: (tls) => {
      const core = mysql.createConnection({
        host: endpoint.hostname,
        port: endpoint.port,
        user: mysqlAccount(session.account.login).name,
        password: session.password,
        // No database: ALTER USER needs none, and an account may have no privilege on any.
        connectTimeout: session.timeoutMs,
        ...(tls ? { ssl: { ...tlsOptionsOf(endpoint), verifyIdentity: tlsOptionsOf(endpoint).rejectUnauthorized } } : {}),
        multipleStatements: false,
      });
      // Handshake errors come as the first 'error' event (caught by connect); one on a connection
      // lost while idle would crash the gateway without a listener.
      core.on('error', () => {});
      return { core, conn: core.promise() };
    },
    connect: ({ core }) =>
      new Promise<void>((resolve, reject) => {
        core.once('connect', () => resolve());
        core.once('error', reject);
      }),
    offersNoTls: (err) => errorInfo(err).code === 'HANDSHAKE_NO_SSL_SUPPORT',
    connectFailure: (err, timedOut) => connectFailure(err, session, timedOut),
    close: ({ conn }, polite) => close(conn, polite),
    destroy: ({ core }) => core.destroy(),
  };
  return withDatabaseSession(target, session, driver, who(session), ({ conn }) => step(conn));
}

async function close(conn: PromiseConnection, polite: boolean): Promise<void> {
  if (polite) await endWithin(() => conn.end(), CLOSE_GRACE_MS);
  conn.destroy();
}

interface MysqlError {
  /** mysql2's symbolic code (ER_ACCESS_DENIED_ERROR) or Node's (ECONNREFUSED). */
  code?: string;
  /** The server's error number, for server errors. */
  errno?: number;
  message?: string;
}

function errorInfo(thrown: unknown): MysqlError {
  const err = firstCause(thrown);
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  // Only these three fields are read: `sql` (the statement, password included) never is.
  const e = err as { code?: unknown; errno?: unknown; sqlMessage?: unknown; message?: unknown };
  const message = typeof e.sqlMessage === 'string' ? e.sqlMessage : typeof e.message === 'string' ? e.message : undefined;
  return {
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    // Node's socket errors carry a negative errno; only the server's positive numbers matter here.
    ...(typeof e.errno === 'number' && e.errno > 0 ? { errno: e.errno } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

/** `1045 ER_ACCESS_DENIED_ERROR` or `ECONNREFUSED`. */
function label(info: MysqlError): string {
  return [info.errno, info.code].filter((x) => x !== undefined).join(' ') || 'no error code';
}

function isTlsError(info: MysqlError): boolean {
  return info.code === 'HANDSHAKE_NO_SSL_SUPPORT' || /CERT|TLS|SSL|EPROTO/.test(info.code ?? '') || /certificate|self[- ]signed/i.test(info.message ?? '');
}

function connectFailure(err: unknown, session: Session, timedOut: boolean): RotationFailure {
  const info = errorInfo(err);
  const at = addressOf(session.endpoint);
  if (isTlsError(info)) {
    if (info.code === 'HANDSHAKE_NO_SSL_SUPPORT') {
      return new RotationFailure('unreachable', `${NAME}: ${at} does not offer TLS, and this resource requires it (useSSL)`);
    }
    return new RotationFailure('unreachable', `${NAME}: the TLS handshake with ${at} failed (${label(info)})${tlsVerifyHint(session.endpoint)}`);
  }
  if (info.errno === undefined) {
    if (timedOut) return new RotationFailure('unreachable', `${NAME}: no answer from ${at} within ${session.timeoutMs} ms`);
    if (info.code && NETWORK_CODES.has(info.code)) return new RotationFailure('unreachable', `${NAME}: cannot reach ${at} (${info.code})`);
    return new RotationFailure('unreachable', `${NAME}: cannot connect to ${at} (${label(info)})`);
  }
  const detail = serverText(info, session);
  switch (info.errno) {
    case 1045: // ER_ACCESS_DENIED_ERROR: wrong password, or no such account
    // ER_ACCESS_DENIED_NO_PASSWORD_ERROR: MariaDB answers some logins as an unknown account with
    // this one (it fakes an authentication plugin for them, so as not to tell which exist), and
    // gives it for accounts that do not log in by password (unix_socket).
    case 1698:
      return new WrongPassword(`${NAME}: ${at} refused the password of ${who(session)} (${label(info)})`);
    case 1130: // ER_HOST_NOT_PRIVILEGED: no account for this name from the gateway's address
    case 1129: // ER_HOST_IS_BLOCKED
    case 1044: // ER_DBACCESS_DENIED_ERROR
    case 3118: // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
    case 4151: // ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
      return new RotationFailure('admin_refused', `${NAME}: ${at} does not let ${who(session)} log in (${label(info)}${detail})`);
    case 1040: // ER_CON_COUNT_ERROR
    case 1203: // ER_TOO_MANY_USER_CONNECTIONS
      return new RotationFailure('unreachable', `${NAME}: ${at} accepts no more connections now (${label(info)})`);
    default:
      return new RotationFailure('failed', `${NAME}: ${at} refused the connection of ${who(session)} (${label(info)}${detail})`);
  }
}

/** Error numbers of a refused password: a validation plugin, or MySQL's password history. */
const POLICY_ERRNOS = new Set([
  1819, // ER_NOT_VALID_PASSWORD: simple_password_check, cracklib_password_check, password_reuse_check, validate_password
  3638, // ER_CREDENTIALS_CONTRADICT_TO_HISTORY (MySQL password history)
]);

/**
 * MariaDB reports a password its validation plugin refused in ALTER USER as 1396 "Operation ALTER
 * USER failed" (the same as for an account that does not exist) and leaves the 1819 conditions,
 * with the plugin's reasons, in the statement's diagnostics. Read them, on the same connection
 * and before any other statement, to tell the two apart. The reasons name rules, not passwords.
 */
async function policyConditions(conn: PromiseConnection, err: unknown, session: Session): Promise<string[]> {
  if (errorInfo(err).errno !== 1396) return [];
  try {
    const [rows] = await conn.query<RowDataPacket[]>({ sql: 'SHOW WARNINGS', timeout: session.timeoutMs });
    return rows
      .filter((r) => POLICY_ERRNOS.has(Number(r['Code'])))
      .map((r) => serverText({ errno: Number(r['Code']), message: String(r['Message']) }, session).slice(2));
  } catch {
    return [];
  }
}

function changeFailure(err: unknown, session: Session, account: string, policy: string[]): RotationFailure {
  const info = errorInfo(err);
  const at = addressOf(session.endpoint);
  const detail = serverText(info, session);
  if (policy.length > 0) {
    return new RotationFailure(
      'policy_refused',
      `${NAME}: ${at} refused the new password for ${account} (1819 ER_NOT_VALID_PASSWORD, reported as ${label(info)}: ${policy.join('; ')})`,
    );
  }
  switch (info.errno) {
    case 1396: // ER_CANNOT_USER: no such account
    case 1133: // ER_PASSWORD_NO_MATCH: no such account (SET PASSWORD)
      return new RotationFailure(
        'not_found',
        `${NAME}: account ${account} does not exist on ${at} (${label(info)}); for an account with another host part, write the login as name@host`,
      );
    case 1819:
    case 3638:
      return new RotationFailure('policy_refused', `${NAME}: ${at} refused the new password for ${account} (${label(info)}${detail})`);
    case 1227: // ER_SPECIFIC_ACCESS_DENIED_ERROR: needs CREATE USER
    case 1044: // ER_DBACCESS_DENIED_ERROR
    case 1142: // ER_TABLEACCESS_DENIED_ERROR (mysql.* tables)
      return new RotationFailure(
        'admin_refused',
        session.role === 'admin'
          ? `${NAME}: admin '${mysqlAccount(session.account.login).name}' lacks the privilege to change the password of ${account} on ${at} (${label(info)}${detail})`
          : `${NAME}: ${account} may not change its own password on ${at} (${label(info)}${detail})`,
      );
    default:
      return queryFailure(err, session, `changing the password of ${account}`);
  }
}

function queryFailure(err: unknown, session: Session, doing: string): RotationFailure {
  const info = errorInfo(err);
  const at = addressOf(session.endpoint);
  if (info.errno === undefined) {
    // The socket died or the client-side timeout fired after the statement was sent.
    return new RotationFailure('failed', `${NAME}: lost the connection to ${at} while ${doing} (${label(info)}); whether it was applied is unknown`);
  }
  return new RotationFailure('failed', `${NAME}: ${at} failed ${doing} (${label(info)}${serverText(info, session)})`);
}

/**
 * `: <server message>` with every secret cut out, or '' when the message is unsafe. Parse errors
 * (1064 ER_PARSE_ERROR, 1149 ER_SYNTAX_ERROR) quote the statement's text near the error, which
 * could be a fragment of the password, so they contribute nothing but their number.
 */
function serverText(info: MysqlError, session: Session): string {
  if (!info.message || info.errno === 1064 || info.errno === 1149) return '';
  const forms = session.secrets.flatMap((secret) => [...new Set([secret, mysql.escape(secret).slice(1, -1)])]);
  return `: ${clipped(withoutSecrets(info.message, forms, '***'), 300)}`;
}
