/**
 * Rotation on an LDAP directory (pamDirectory): OpenLDAP and other RFC 3062 servers, and Active
 * Directory. One connection per call, closed in `finally` and when the job is cancelled.
 *
 * Decisions, written down because directories and their administrators depend on them:
 *
 *  - OpenLDAP (and any directory type that is not AD): the password is set with the LDAP Password
 *    Modify extended operation (RFC 3062), not with a modify of `userPassword`. It is what OpenLDAP
 *    recommends: the server hashes the new password with its own `olcPasswordHash` and applies
 *    ppolicy (length, quality, history) to the cleartext. A plain modify would store the cleartext
 *    as given unless the server runs ppolicy with `ppolicy_hash_cleartext`. Only when the server
 *    says it does not know the operation (protocolError, as RFC 4511 §4.12 prescribes for an
 *    unknown request name) does the plugin fall back to a modify that replaces `userPassword`,
 *    and it says so in the job log.
 *  - Active Directory: `unicodePwd` in its quoted UTF-16LE form (./ad-password.ts). An admin resets
 *    with a replace; a user changing its own password sends one modify that deletes the old value
 *    and adds the new one, which is the only form AD accepts from a non-admin. AD refuses
 *    `unicodePwd` writes on an unencrypted connection, so without useSSL the plugin refuses up
 *    front ('unsupported') instead of sending the password in the clear to get a refusal back.
 *  - `azure_ad` is refused ('unsupported'): Entra ID has no LDAP write path for passwords.
 *  - The user's DN: `distinguishedName` when set; otherwise one search under the directory's base
 *    DN for uid, sAMAccountName or cn equal to the login (escaped per RFC 4515), bound as the
 *    admin (self-rotation and verify without admin: anonymously). Exactly one entry, or the
 *    rotation stops: 'not_found' for none, 'failed' for several (it will not guess which).
 *  - An empty password is never sent: an LDAP simple bind with an empty password is an anonymous
 *    bind that succeeds (RFC 4513 §5.1.2), which verify() would mistake for "accepted".
 *  - Messages and log lines name hosts, DNs, result codes and the server's diagnostic text, with
 *    every password of the call cut out of that text too, in case a server ever echoes one.
 *    (ldapts itself can print request bodies, passwords included, under NODE_DEBUG=ldapts; never
 *    set that on a gateway.)
 */
import { Attribute, Change, Client, ResultCodeError, escapeFilter } from 'ldapts';
import { RotationFailure, type Account, type RotationPlugin, type RotationTarget } from '../plugin.ts';
import { encodeAdPassword } from './ad-password.ts';
import { UNREACHABLE_SOCKET_CODES, addressOf, passwordOf, secretsOf, unlessCancelled, withoutSecrets } from './common.ts';
import { tlsOptionsOf } from './tls.ts';

export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

// ---------------------------------------------------------------------------------------------
// RFC 3062 request value
// ---------------------------------------------------------------------------------------------

/** A BER definite length: short form below 128, else 0x80|n followed by n big-endian bytes. */
function berLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/**
 * The value of a Password Modify request (RFC 3062 §2):
 *
 *   PasswdModifyRequestValue ::= SEQUENCE {
 *     userIdentity [0] OCTET STRING OPTIONAL,
 *     oldPasswd    [1] OCTET STRING OPTIONAL,
 *     newPasswd    [2] OCTET STRING OPTIONAL }
 *
 * Context-specific primitive tags 0x80, 0x81, 0x82; strings as UTF-8; absent fields left out.
 */
export function passwordModifyRequest(fields: { userIdentity?: string; oldPassword?: string; newPassword?: string }): Buffer {
  const parts: Buffer[] = [];
  const field = (tag: number, value: string | undefined): void => {
    if (value === undefined) return;
    const bytes = Buffer.from(value, 'utf8');
    parts.push(Buffer.from([tag]), berLength(bytes.length), bytes);
  };
  field(0x80, fields.userIdentity);
  field(0x81, fields.oldPassword);
  field(0x82, fields.newPassword);
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30]), berLength(body.length), body]);
}

// ---------------------------------------------------------------------------------------------
// Directory flavour
// ---------------------------------------------------------------------------------------------

type Flavour = 'openldap' | 'active_directory';

/** The record holds `active_directory` (DIRECTORY_TYPES); imports and people write "Active Directory". */
function flavourOf(target: RotationTarget): Flavour {
  const type = (target.endpoint.directoryType ?? '').toLowerCase().replace(/[\s_-]+/g, '');
  if (type === 'activedirectory') return 'active_directory';
  if (type === 'azuread') {
    throw new RotationFailure(
      'unsupported',
      `ldap ${where(target)}: directory type azure_ad has no LDAP password write; rotate Entra ID accounts through Microsoft Graph instead.`,
    );
  }
  return 'openldap';
}

function where(target: RotationTarget): string {
  return addressOf(target.endpoint);
}

function urlOf(target: RotationTarget): string {
  const host = target.endpoint.hostname.includes(':') ? `[${target.endpoint.hostname}]` : target.endpoint.hostname;
  return `${target.endpoint.useSSL ? 'ldaps' : 'ldap'}://${host}:${target.endpoint.port}`;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** What the plugin was doing when an error came back: it decides what a result code means. */
type Step = 'bind-admin' | 'bind-self' | 'search' | 'set-password' | 'bind-verify';

const RESULT_NAMES: Record<number, string> = {
  1: 'operationsError',
  2: 'protocolError',
  3: 'timeLimitExceeded',
  4: 'sizeLimitExceeded',
  8: 'strongerAuthRequired',
  13: 'confidentialityRequired',
  16: 'noSuchAttribute',
  19: 'constraintViolation',
  20: 'attributeOrValueExists',
  21: 'invalidAttributeSyntax',
  32: 'noSuchObject',
  34: 'invalidDNSyntax',
  48: 'inappropriateAuthentication',
  49: 'invalidCredentials',
  50: 'insufficientAccessRights',
  51: 'busy',
  52: 'unavailable',
  53: 'unwillingToPerform',
  65: 'objectClassViolation',
  80: 'other',
};

/** AD's reason inside an invalidCredentials diagnostic ("AcceptSecurityContext error, data 775"). */
const AD_BIND_REASONS: Record<string, string> = {
  '525': 'no such user',
  '52e': 'wrong password',
  '530': 'logon not permitted at this time',
  '531': 'logon not permitted at this workstation',
  '532': 'password expired',
  '533': 'account disabled',
  '701': 'account expired',
  '773': 'password must be reset',
  '775': 'account locked',
};

const NETWORK_CODES = new Set([...UNREACHABLE_SOCKET_CODES, 'ECONNABORTED', 'EHOSTDOWN', 'EPROTO']);
const TLS_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
// ldapts' own wording for a connection that timed out, broke or closed under a request.
const NETWORK_MESSAGES = /^(Connection timeout|Socket error|Connection closed before message response)|Operation timed out|Socket connection not established/;

interface Context {
  target: RotationTarget;
  /** Every password this call handles: cut out of any text that reaches a message. */
  secrets: string[];
}

/** The server's diagnostic text of an LDAP error, without ldapts' " Code: 0x13" suffix. */
function diagnostic(err: ResultCodeError, ctx: Context): string {
  const text = withoutSecrets(err.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim(), ctx.secrets);
  return text ? `: ${text}` : '';
}

function resultLabel(code: number): string {
  return `LDAP ${code} ${RESULT_NAMES[code] ?? 'error'}`;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof ResultCodeError) return false;
  const code = errnoCode(err);
  if (code && (NETWORK_CODES.has(code) || TLS_CERT_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'))) return true;
  return NETWORK_MESSAGES.test(err.message);
}

/** Turn whatever ldapts or the socket threw into the RotationFailure the engine decides on. */
function failureOf(err: unknown, step: Step, dn: string, ctx: Context): RotationFailure {
  if (err instanceof RotationFailure) return err;
  const at = `ldap ${where(ctx.target)}`;
  if (ctx.target.signal.aborted) return cancelled(ctx.target);
  if (isNetworkError(err)) {
    const e = err as Error;
    const code = errnoCode(e);
    const tls = code !== undefined && (TLS_CERT_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'));
    let hint = '';
    if (tls && ctx.target.endpoint.verifyTls) hint = '; the certificate is not trusted (turn SSL verification off only for a known self-signed certificate)';
    // A plain LDAP request to an LDAPS port: the server drops the connection without an answer.
    else if (!ctx.target.endpoint.useSSL && /^Connection closed before message response/.test(e.message)) hint = '; if this port speaks LDAPS, turn on useSSL';
    const detail = withoutSecrets(code ? `${code}: ${e.message}` : e.message, ctx.secrets);
    return new RotationFailure('unreachable', `${at}: ${tls ? 'TLS handshake failed' : 'cannot reach the directory'} (${detail})${hint}`);
  }
  if (!(err instanceof ResultCodeError)) {
    const e = err instanceof Error ? err : new Error(String(err));
    return new RotationFailure('failed', `${at}: ${e.name}: ${withoutSecrets(e.message, ctx.secrets)}`);
  }
  const code = err.code;
  const label = `${resultLabel(code)}${diagnostic(err, ctx)}`;
  if (code === 49) {
    const adReason = /data ([0-9a-f]{3})/i.exec(err.message)?.[1]?.toLowerCase();
    const reason = adReason && AD_BIND_REASONS[adReason] ? ` [${AD_BIND_REASONS[adReason]}]` : '';
    const who = step === 'bind-admin' ? `the admin "${dn}"` : `"${dn}" with its current password`;
    return new RotationFailure('admin_refused', `${at}: binding as ${who} was refused (${label})${reason}`);
  }
  if (code === 32) {
    const what = step === 'search' ? `the base DN "${dn}" does not exist` : `"${dn}" does not exist`;
    return new RotationFailure('not_found', `${at}: ${what} (${label})`);
  }
  if (code === 50) {
    const who = ctx.target.admin ? 'the admin lacks the right' : 'the user lacks the right';
    const what = step === 'set-password' ? `to set the password of "${dn}"` : step === 'search' ? `to search under "${dn}"` : `for this operation on "${dn}"`;
    return new RotationFailure('admin_refused', `${at}: ${who} ${what} (${label})`);
  }
  if (step === 'set-password' && (code === 19 || code === 53)) {
    // OpenLDAP ppolicy answers constraintViolation ("Password fails quality checking policy",
    // "Password is in history of old passwords"); AD answers 19 with 0000052D, or 53.
    return new RotationFailure('policy_refused', `${at}: the directory refused the new password for "${dn}" (${label})`);
  }
  if (code === 8 || code === 13) {
    return new RotationFailure('failed', `${at}: the directory requires an encrypted connection (${label}); turn on useSSL for this pamDirectory`);
  }
  if (step === 'search' && code === 4) {
    return new RotationFailure('failed', `${at}: more than one entry matches; set distinguishedName on the pamUser (${label})`);
  }
  return new RotationFailure('failed', `${at}: ${label}`);
}

function cancelled(target: RotationTarget): RotationFailure {
  return new RotationFailure('failed', `ldap ${where(target)}: cancelled; the connection was closed`);
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

interface Session {
  client: Client;
  ctx: Context;
  /** Throws the cancel failure once the job is cancelled: no new call starts after that. */
  live(): void;
  /** Run one LDAP call: refuse to start it after a cancel; map its error by `step`. */
  call<T>(step: Step, dn: string, op: () => Promise<T>): Promise<T>;
}

/**
 * One connection for `work`. Closed (unbind, then the socket) when `work` ends, and at once when
 * the job is cancelled: the caller is released immediately, and a call still in flight is not
 * followed by another one.
 */
async function withSession<T>(ctx: Context, work: (s: Session) => Promise<T>): Promise<T> {
  const { target } = ctx;
  if (target.signal.aborted) throw cancelled(target);
  const client = new Client({
    url: urlOf(target),
    timeout: target.timeoutMs,
    connectTimeout: target.timeoutMs,
    // Only for ldaps: ldapts treats the mere presence of tlsOptions as "connect with TLS".
    ...(target.endpoint.useSSL ? { tlsOptions: tlsOptionsOf(target.endpoint) } : {}),
  });
  const close = (): Promise<void> => client.unbind().catch(() => undefined);
  const session: Session = {
    client,
    ctx,
    live() {
      if (target.signal.aborted) throw cancelled(target);
    },
    async call(step, dn, op) {
      session.live();
      try {
        return await op();
      } catch (err) {
        throw failureOf(err, step, dn, ctx);
      }
    },
  };

  const running = work(session);
  try {
    return await unlessCancelled(target.signal, running, () => {
      const failure = cancelled(target);
      void close();
      return failure;
    });
  } finally {
    // After a cancel, `running` may still be inside a call (a connect, say): close again once it
    // has settled, so a connection that completes late is not left open.
    void running.then(close, close);
    await close();
  }
}

/** Why a credential cannot be used: `whose` holds a key, where directories take passwords. */
function keyRefused(target: RotationTarget, whose: string): string {
  return `ldap ${where(target)}: ${whose} holds a key; LDAP directories rotate passwords only.`;
}

/**
 * The admin's bind name and password: its distinguishedName, else its login (a DN; AD also takes
 * user@domain and DOMAIN\user as a simple-bind name, and ldapts sends the name as is).
 */
function adminBindOf(target: RotationTarget, admin: Account): { name: string; password: string } {
  const password = passwordOf(admin.credential, keyRefused(target, `the admin "${admin.login}"`));
  // A name with an empty password is an "unauthenticated bind" (RFC 4513 §5.1.2): never an admin.
  if (password.length === 0) throw new RotationFailure('admin_refused', `ldap ${where(target)}: the admin "${admin.login}" has no password to bind with.`);
  return { name: admin.distinguishedName ?? admin.login, password };
}

/**
 * The user's DN: given, or found by login under the base DN with whatever the session is bound
 * as. Exactly one entry, or a RotationFailure.
 */
async function userDnOf(s: Session): Promise<string> {
  const { target } = s.ctx;
  const given = target.user.distinguishedName;
  if (given) return given;
  const base = target.endpoint.baseDn;
  const login = target.user.login;
  if (!base || !login) {
    throw new RotationFailure(
      'failed',
      `ldap ${where(target)}: the pamUser "${login}" has no distinguishedName and the pamDirectory no base DN to search for it; set one of them.`,
    );
  }
  // escapeFilter applies RFC 4515 to each value: * ( ) \ and NUL become \2a \28 \29 \5c \00.
  const filter = escapeFilter`(|(uid=${login})(sAMAccountName=${login})(cn=${login}))`;
  const result = await s.call('search', base, () =>
    s.client.search(base, { scope: 'sub', filter, attributes: ['1.1'], sizeLimit: 2, timeLimit: Math.max(1, Math.ceil(target.timeoutMs / 1000)) }),
  );
  const dns = result.searchEntries.map((e) => e.dn);
  if (dns.length === 0) {
    throw new RotationFailure(
      'not_found',
      `ldap ${where(target)}: no entry under "${base}" has uid, sAMAccountName or cn "${login}"${target.admin ? '' : ' (searched anonymously; the directory may hide it)'}`,
    );
  }
  if (dns.length > 1) {
    throw new RotationFailure(
      'failed',
      `ldap ${where(target)}: ${dns.length} entries under "${base}" match login "${login}" (${dns.map((d) => `"${d}"`).join(', ')}); set distinguishedName on the pamUser.`,
    );
  }
  target.log(`ldap: found "${dns[0]}" for login "${login}" under "${base}"`);
  return dns[0]!;
}

// ---------------------------------------------------------------------------------------------
// Setting the password
// ---------------------------------------------------------------------------------------------

async function setOpenLdapPassword(s: Session, dn: string, current: string | undefined, next: string): Promise<void> {
  const value = passwordModifyRequest({ userIdentity: dn, ...(current !== undefined ? { oldPassword: current } : {}), newPassword: next });
  s.live();
  try {
    await s.client.exop(PASSWORD_MODIFY_OID, value);
    s.ctx.target.log(`ldap: set the password of "${dn}" with the Password Modify extended operation`);
    return;
  } catch (err) {
    // Anything but "unknown operation" is the server's answer about this password: keep it.
    if (!(err instanceof ResultCodeError && err.code === 2)) throw failureOf(err, 'set-password', dn, s.ctx);
  }
  // The fallback replaces for a self-change too: the bind with the current password proved it,
  // and a delete of the old value would need the server to match cleartext against its hash.
  s.ctx.target.log(`ldap: the directory does not support the Password Modify extended operation; replacing userPassword with a modify`);
  await s.call('set-password', dn, () =>
    s.client.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'userPassword', values: [next] }) })),
  );
  s.ctx.target.log(`ldap: set the password of "${dn}" by replacing userPassword`);
}

async function setAdPassword(s: Session, dn: string, current: string | undefined, next: string): Promise<void> {
  const changes =
    current === undefined
      ? [new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [encodeAdPassword(next)] }) })]
      : [
          // A user's own change: delete the old value and add the new one, in one modify.
          new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [encodeAdPassword(current)] }) }),
          new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [encodeAdPassword(next)] }) }),
        ];
  await s.call('set-password', dn, () => s.client.modify(dn, changes));
  s.ctx.target.log(`ldap: ${current === undefined ? 'reset' : 'changed'} the unicodePwd of "${dn}"`);
}

// ---------------------------------------------------------------------------------------------
// The plugin
// ---------------------------------------------------------------------------------------------

export const ldapPlugin: RotationPlugin = {
  name: 'ldap',

  async change(target, next) {
    const flavour = flavourOf(target);
    const nextPassword = passwordOf(next, keyRefused(target, 'the new credential'));
    const currentPassword = passwordOf(target.user.credential, keyRefused(target, `pamUser "${target.user.login}"`));
    const adminBind = target.admin ? adminBindOf(target, target.admin) : null;
    if (nextPassword.length === 0)
      throw new RotationFailure(
        'unsupported',
        `ldap ${where(target)}: refusing to set an empty password (LDAP treats an empty password as an anonymous bind).`,
      );
    if (flavour === 'active_directory' && !target.endpoint.useSSL) {
      throw new RotationFailure(
        'unsupported',
        `ldap ${where(target)}: Active Directory accepts password changes (unicodePwd) only over an encrypted connection; turn on useSSL (LDAPS, usually port 636) for this pamDirectory.`,
      );
    }
    // Every password of the call: the new one, the user's current one and the admin's.
    const ctx: Context = { target, secrets: secretsOf(target, nextPassword) };
    target.log(`ldap: connecting to ${urlOf(target)}${target.endpoint.useSSL && !target.endpoint.verifyTls ? ' (certificate not verified)' : ''}`);

    await withSession(ctx, async (s) => {
      let dn: string;
      if (adminBind) {
        await s.call('bind-admin', adminBind.name, () => s.client.bind(adminBind.name, adminBind.password));
        target.log(`ldap: bound as the admin "${adminBind.name}"`);
        dn = await userDnOf(s);
      } else {
        // Self-rotation: find the DN anonymously if needed, then prove the current password.
        dn = await userDnOf(s);
        if (currentPassword.length === 0)
          throw new RotationFailure('admin_refused', `ldap ${where(target)}: pamUser "${target.user.login}" has no current password to bind with.`);
        await s.call('bind-self', dn, () => s.client.bind(dn, currentPassword));
        target.log(`ldap: bound as "${dn}" (self-rotation)`);
      }
      const current = adminBind ? undefined : currentPassword;
      if (flavour === 'active_directory') await setAdPassword(s, dn, current, nextPassword);
      else await setOpenLdapPassword(s, dn, current, nextPassword);
    });
  },

  async verify(target, credential) {
    flavourOf(target);
    const password = passwordOf(credential, keyRefused(target, 'the credential to verify'));
    if (password.length === 0) return false;
    // The DN search needs the admin unless the DN is given (the user's bind replaces it anyway).
    const adminBind = !target.user.distinguishedName && target.admin ? adminBindOf(target, target.admin) : null;
    const ctx: Context = { target, secrets: secretsOf(target, password) };

    return withSession(ctx, async (s) => {
      if (adminBind) await s.call('bind-admin', adminBind.name, () => s.client.bind(adminBind.name, adminBind.password));
      const dn = await userDnOf(s);
      s.live();
      try {
        await s.client.bind(dn, password);
      } catch (err) {
        if (err instanceof ResultCodeError && err.code === 49 && !target.signal.aborted) {
          target.log(`ldap: "${dn}" was refused with that password`);
          return false;
        }
        throw failureOf(err, 'bind-verify', dn, ctx);
      }
      target.log(`ldap: "${dn}" logged in`);
      return true;
    });
  },
};
