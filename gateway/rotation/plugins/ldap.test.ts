/**
 * The LDAP rotation plugin against a real OpenLDAP slapd (scripts/services/slapd.sh): plain LDAP
 * and LDAPS, admin and self-rotation, ppolicy refusals, ACL refusals, lookup by login, and the
 * promise that no password ends up in an error or a log line. Every test makes its own entries
 * under ou=people through the rootDN and deletes them afterwards; rotation itself runs as a
 * separate admin entry that is a member of cn=pam-admins (write access to userPassword via ACL),
 * never as the rootDN, which would bypass both ACLs and ppolicy. The Active Directory path runs
 * against the same slapd through stand-in unicodePwd/sAMAccountName attributes (slapd.sh): that
 * checks the bytes and the modify on the wire, not AD's own password rules.
 *
 * Also, always: the RFC 3062 request encoding, byte for byte.
 */
import { randomUUID } from 'node:crypto';
import { Attribute, BerReader, Change, Client, InvalidCredentialsError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayOptions } from '../../../core/records/custom-fields.ts';
import { RotationFailure, type Account, type Credential, type RotationTarget } from '../plugin.ts';
import { encodeAdPassword } from './ad-password.ts';
import { ldapPlugin, passwordModifyRequest } from './ldap.ts';
import { requireService } from '../../../test/support/services.ts';

const hex = (b: Buffer): string => b.toString('hex');

describe('passwordModifyRequest (RFC 3062 request value)', () => {
  it('encodes all three fields with context tags 0x80, 0x81, 0x82 in a SEQUENCE', () => {
    const value = passwordModifyRequest({ userIdentity: 'uid=a', oldPassword: 'o', newPassword: 'n' });
    // 30 0d | 80 05 "uid=a" | 81 01 "o" | 82 01 "n"   (body: 7 + 3 + 3 = 13 bytes)
    expect(hex(value)).toBe('300d' + '8005' + hex(Buffer.from('uid=a')) + '8101' + '6f' + '8201' + '6e');
  });

  it('decodes with an independent BER reader (ldapts) to the same fields', () => {
    const reader = new BerReader(passwordModifyRequest({ userIdentity: 'uid=zoë,ou=people', oldPassword: 'a"b\\c', newPassword: '*)(😀' }));
    expect(reader.readSequence()).toBe(0x30);
    expect(reader.readString(0x80)).toBe('uid=zoë,ou=people');
    expect(reader.readString(0x81)).toBe('a"b\\c');
    expect(reader.readString(0x82)).toBe('*)(😀');
    expect(reader.remain).toBe(0);
  });

  it('leaves absent fields out (an admin reset sends no old password)', () => {
    expect(hex(passwordModifyRequest({ userIdentity: 'x', newPassword: 'y' }))).toBe('3006' + '800178' + '820179');
    expect(hex(passwordModifyRequest({}))).toBe('3000');
  });

  it('writes strings as UTF-8 and counts bytes, not characters', () => {
    // é is two bytes in UTF-8, 😀 four.
    expect(hex(passwordModifyRequest({ newPassword: 'é😀' }))).toBe('3008' + '8206' + 'c3a9' + 'f09f9880');
  });

  it('uses the long length form above 127 bytes, for the fields and the sequence', () => {
    const longDn = 'x'.repeat(200);
    const value = passwordModifyRequest({ userIdentity: longDn, newPassword: 'p'.repeat(300) });
    // field 1: 80 81 c8 + 200 bytes; field 2: 82 82 01 2c + 300 bytes; body 203 + 304 = 507 = 0x01fb
    expect(hex(value.subarray(0, 4))).toBe('308201fb');
    expect(hex(value.subarray(4, 7))).toBe('8081c8');
    expect(hex(value.subarray(207, 211))).toBe('8282012c');
    expect(value.length).toBe(4 + 507);
  });
});

interface LdapTestConfig {
  url: string;
  ldapsUrl: string;
  baseDn: string;
  adminDn: string;
  adminPassword: string;
}

function readConfig(): LdapTestConfig | null {
  const raw = requireService('slapd', 'POSTERN_TEST_LDAP');
  if (!raw) return null;
  const parsed = JSON.parse(raw) as Partial<LdapTestConfig>;
  for (const key of ['url', 'ldapsUrl', 'baseDn', 'adminDn', 'adminPassword'] as const) {
    if (typeof parsed[key] !== 'string' || !parsed[key]) throw new Error(`POSTERN_TEST_LDAP: "${key}" is missing`);
  }
  return parsed as LdapTestConfig;
}

const cfg = readConfig();
const title = cfg
  ? 'ldap plugin against a real OpenLDAP slapd'
  : 'ldap plugin against a real OpenLDAP slapd [skipped: POSTERN_TEST_LDAP is unset; `npm test` starts slapd with scripts/services/slapd.sh]';

describe.skipIf(!cfg)(title, () => {
  // The body of a skipped describe still runs (only its tests do not): give it values to read.
  const c: LdapTestConfig = cfg ?? {
    url: 'ldap://127.0.0.1:3389',
    ldapsUrl: 'ldaps://127.0.0.1:3636',
    baseDn: 'dc=postern,dc=test',
    adminDn: '',
    adminPassword: '',
  };
  const run = randomUUID().slice(0, 8);
  const people = `ou=people,${c.baseDn}`;
  const pamAdmins = `cn=pam-admins,ou=groups,${c.baseDn}`;
  const created: string[] = [];
  const canary = `Canary-${randomUUID()}`;
  // Every job log line and every error message of the suite, checked for passwords at the end.
  const allLines: string[] = [];
  const allErrors: string[] = [];

  const plain = new URL(c.url);
  const secure = new URL(c.ldapsUrl);
  const options: GatewayOptions = { noop: false, kerberos: false, privateKeyRotate: true };
  const pw = (password: string): Credential => ({ kind: 'password', password });

  /** RFC 4514: escape what a DN attribute value cannot hold as is. */
  const dnValue = (v: string): string =>
    v
      .replace(/[\\,+"<>;=]/g, (ch) => `\\${ch}`)
      .replace(/^([ #])/, '\\$1')
      .replace(/ $/, '\\ ');

  async function asRoot<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ url: c.url, timeout: 10_000, connectTimeout: 10_000 });
    try {
      await client.bind(c.adminDn, c.adminPassword);
      return await work(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** A real simple bind, outside the plugin: true when the directory accepts the password. */
  async function canBind(dn: string, password: string, url = c.url): Promise<boolean> {
    // tlsOptions only for ldaps: ldapts connects with TLS whenever they are given.
    const client = new Client({
      url,
      timeout: 10_000,
      connectTimeout: 10_000,
      ...(url.startsWith('ldaps:') ? { tlsOptions: { rejectUnauthorized: false } } : {}),
    });
    try {
      await client.bind(dn, password);
      return true;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return false;
      throw err;
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  async function storedPassword(dn: string): Promise<string> {
    return asRoot(async (client) => {
      const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['userPassword'] });
      const value = searchEntries[0]?.['userPassword'];
      return String(Array.isArray(value) ? value[0] : value);
    });
  }

  async function storedUnicodePwd(dn: string): Promise<Buffer | undefined> {
    return asRoot(async (client) => {
      const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['unicodePwd'], explicitBufferAttributes: ['unicodePwd'] });
      const value = searchEntries[0]?.['unicodePwd'];
      return Array.isArray(value) ? (value[0] as Buffer | undefined) : (value as Buffer | undefined);
    });
  }

  /**
   * An inetOrgPerson + posixAccount under ou=people with `password`, deleted after the suite.
   * `unicodePwd`: also the stand-in AD attributes (slapd.sh's posternAdAccount class), with that
   * value stored in AD's encoding.
   */
  async function makeUser(name: string, password: string, extra: { cn?: string; unicodePwd?: string } = {}): Promise<{ dn: string; login: string }> {
    const login = `pt-${run}-${name}`;
    const dn = `uid=${dnValue(login)},${people}`;
    const attributes = [
      new Attribute({ type: 'objectClass', values: ['inetOrgPerson', 'posixAccount', ...(extra.unicodePwd !== undefined ? ['posternAdAccount'] : [])] }),
      new Attribute({ type: 'uid', values: [login] }),
      new Attribute({ type: 'cn', values: [extra.cn ?? login] }),
      new Attribute({ type: 'sn', values: [name] }),
      new Attribute({ type: 'uidNumber', values: [String(20000 + created.length)] }),
      new Attribute({ type: 'gidNumber', values: ['20000'] }),
      new Attribute({ type: 'homeDirectory', values: [`/home/${run}`] }),
      new Attribute({ type: 'userPassword', values: [password] }),
      ...(extra.unicodePwd !== undefined ? [new Attribute({ type: 'unicodePwd', values: [encodeAdPassword(extra.unicodePwd)] })] : []),
    ];
    await asRoot((client) => client.add(dn, attributes));
    created.push(dn);
    return { dn, login };
  }

  function target(opts: {
    user: Account;
    admin?: Account | null;
    ldaps?: boolean;
    verifyTls?: boolean;
    port?: number;
    directoryType?: string;
    baseDn?: string;
    signal?: AbortSignal;
  }): { target: RotationTarget; lines: string[] } {
    const lines: string[] = [];
    const url = opts.ldaps ? secure : plain;
    return {
      lines,
      target: {
        endpoint: {
          type: 'pamDirectory',
          hostname: url.hostname,
          port: opts.port ?? Number(url.port),
          useSSL: opts.ldaps ?? false,
          verifyTls: opts.verifyTls ?? !opts.ldaps,
          directoryType: opts.directoryType ?? 'openldap',
          ...(opts.baseDn ? { baseDn: opts.baseDn } : {}),
        },
        user: opts.user,
        admin: opts.admin === undefined ? admin : opts.admin,
        options,
        signal: opts.signal ?? new AbortController().signal,
        log: (line) => {
          lines.push(line);
          allLines.push(line);
        },
        timeoutMs: 10_000,
      },
    };
  }

  /** The RotationFailure `work` throws (and its message, for the canary check). */
  async function failure(work: Promise<unknown>): Promise<RotationFailure> {
    const err = await work.then(
      () => {
        throw new Error('expected a RotationFailure, got success');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RotationFailure);
    const f = err as RotationFailure;
    allErrors.push(f.message, String(f.stack));
    return f;
  }

  const adminPassword = `Admin-${randomUUID()}`;
  let admin: Account;

  beforeAll(async () => {
    const a = await makeUser('admin', adminPassword);
    admin = { login: a.login, distinguishedName: a.dn, credential: pw(adminPassword) };
    await asRoot((client) => client.modify(pamAdmins, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [a.dn] }) })));
  });

  afterAll(async () => {
    await asRoot(async (client) => {
      if (admin?.distinguishedName) {
        await client
          .modify(pamAdmins, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [admin.distinguishedName] }) }))
          .catch(() => undefined);
      }
      for (const dn of created.reverse()) await client.del(dn).catch(() => undefined);
    });
  });

  it('rotates as the admin over plain LDAP: the new password binds, the old one no longer does, and it is stored hashed', async () => {
    const old = `Old-${randomUUID()}`;
    const next = `New-${randomUUID()}`;
    const u = await makeUser('plain', old);
    const { target: t, lines } = target({ user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    await ldapPlugin.change(t, pw(next));
    expect(await canBind(u.dn, next)).toBe(true);
    expect(await canBind(u.dn, old)).toBe(false);
    // olcPasswordHash {SSHA}: the Password Modify operation stored a hash, not the cleartext.
    expect(await storedPassword(u.dn)).toMatch(/^\{SSHA\}/);
    expect(lines.join('\n')).toContain('Password Modify extended operation');
    expect(lines.join('\n')).toContain(`bound as the admin "${admin.distinguishedName}"`);
  });

  it('rotates as the admin over LDAPS with a self-signed certificate when verification is off', async () => {
    const old = `Old-${randomUUID()}`;
    const next = `New-${randomUUID()}`;
    const u = await makeUser('ldaps', old);
    const { target: t, lines } = target({ ldaps: true, verifyTls: false, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    await ldapPlugin.change(t, pw(next));
    expect(lines[0]).toContain('ldaps://');
    expect(await canBind(u.dn, next, c.ldapsUrl)).toBe(true);
    expect(await canBind(u.dn, old, c.ldapsUrl)).toBe(false);
    expect(await ldapPlugin.verify(t, pw(next))).toBe(true);
  });

  it('refuses the self-signed certificate when verification is on: unreachable, old password kept', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('tlsverify', old);
    const { target: t } = target({ ldaps: true, verifyTls: true, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    const f = await failure(ldapPlugin.change(t, pw(`New-${randomUUID()}`)));
    expect(f.reason).toBe('unreachable');
    expect(f.message).toContain('TLS handshake failed');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('rotates a user itself (no admin), binding with its current password', async () => {
    const old = `Old-${randomUUID()}`;
    const next = `New-${randomUUID()}`;
    const u = await makeUser('self', old);
    const { target: t, lines } = target({ admin: null, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    await ldapPlugin.change(t, pw(next));
    expect(lines.join('\n')).toContain('self-rotation');
    expect(await canBind(u.dn, next)).toBe(true);
    expect(await canBind(u.dn, old)).toBe(false);
    expect(await storedPassword(u.dn)).toMatch(/^\{SSHA\}/);
  });

  it('self-rotation with a wrong current password is admin_refused and changes nothing', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('selfwrong', old);
    const { target: t } = target({ admin: null, user: { login: u.login, distinguishedName: u.dn, credential: pw(`Wrong-${randomUUID()}`) } });
    const f = await failure(ldapPlugin.change(t, pw(`New-${randomUUID()}`)));
    expect(f.reason).toBe('admin_refused');
    expect(f.message).toContain('LDAP 49');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('verify: true for the right password, false for a wrong or empty one', async () => {
    const password = `Pw-${randomUUID()}`;
    const u = await makeUser('verify', password);
    const user: Account = { login: u.login, distinguishedName: u.dn, credential: pw(password) };
    expect(await ldapPlugin.verify(target({ user }).target, pw(password))).toBe(true);
    expect(await ldapPlugin.verify(target({ user }).target, pw(`Wrong-${randomUUID()}`))).toBe(false);
    // An empty password would be an anonymous bind, which succeeds: it must not count as accepted.
    expect(await ldapPlugin.verify(target({ user }).target, pw(''))).toBe(false);
    // Without an admin (the DN is given, so nothing to search).
    expect(await ldapPlugin.verify(target({ user, admin: null }).target, pw(password))).toBe(true);
  });

  it('a wrong admin password is admin_refused, and the user keeps its old password', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('badadmin', old);
    const wrongAdmin: Account = { ...admin, credential: pw(canary) };
    const { target: t } = target({ admin: wrongAdmin, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    const f = await failure(ldapPlugin.change(t, pw(`New-${randomUUID()}`)));
    expect(f.reason).toBe('admin_refused');
    expect(f.message).toContain(`the admin "${admin.distinguishedName}"`);
    expect(f.message).not.toContain(canary);
    expect(await canBind(u.dn, old)).toBe(true);

    // An empty admin password would be an "unauthenticated bind": refused before connecting.
    const empty = target({ admin: { ...admin, credential: pw('') }, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    const e = await failure(ldapPlugin.change(empty.target, pw(`New-${randomUUID()}`)));
    expect(e.reason).toBe('admin_refused');
    expect(empty.lines).toEqual([]);
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('binds as the admin by its login when the admin record has no distinguishedName', async () => {
    const old = `Old-${randomUUID()}`;
    const next = `New-${randomUUID()}`;
    const u = await makeUser('adminlogin', old);
    const byLogin: Account = { login: admin.distinguishedName!, credential: admin.credential };
    await ldapPlugin.change(target({ admin: byLogin, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } }).target, pw(next));
    expect(await canBind(u.dn, next)).toBe(true);
  });

  it('an admin without write access to userPassword is admin_refused (LDAP 50), old password kept', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('norights', old);
    const weakPassword = `Weak-${randomUUID()}`;
    const weak = await makeUser('notadmin', weakPassword);
    const { target: t } = target({
      admin: { login: weak.login, distinguishedName: weak.dn, credential: pw(weakPassword) },
      user: { login: u.login, distinguishedName: u.dn, credential: pw(old) },
    });
    const f = await failure(ldapPlugin.change(t, pw(`New-${randomUUID()}`)));
    expect(f.reason).toBe('admin_refused');
    expect(f.message).toContain('the admin lacks the right');
    expect(f.message).toContain('LDAP 50');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('a closed port is unreachable, for change and for verify', async () => {
    const user: Account = { login: 'nobody', distinguishedName: `uid=nobody,${people}`, credential: pw(`Old-${randomUUID()}`) };
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const f = await failure(ldapPlugin.change(target({ port: 1, user }).target, pw(canary)));
    expect(f.reason).toBe('unreachable');
    expect(f.message).toContain('ECONNREFUSED');
    const v = await failure(ldapPlugin.verify(target({ port: 1, user }).target, pw(canary)));
    expect(v.reason).toBe('unreachable');
  });

  it('an unknown DN is not_found', async () => {
    const ghost = `uid=pt-${run}-ghost,${people}`;
    const { target: t } = target({ user: { login: 'ghost', distinguishedName: ghost, credential: pw(`Old-${randomUUID()}`) } });
    const f = await failure(ldapPlugin.change(t, pw(canary)));
    expect(f.reason).toBe('not_found');
    expect(f.message).toContain(ghost);
  });

  it('finds the DN by login under the base DN when distinguishedName is absent (admin, self and verify)', async () => {
    // A login that needs RFC 4515 escaping in the filter, and a non-ASCII one.
    for (const name of ['o(b)*r\\n', 'zoë']) {
      const old = `Old-${randomUUID()}`;
      const next = `New-${randomUUID()}`;
      const u = await makeUser(name, old);
      const { target: t, lines } = target({ baseDn: c.baseDn, user: { login: u.login, credential: pw(old) } });
      await ldapPlugin.change(t, pw(next));
      expect(lines.some((l) => l.startsWith('ldap: found "') && l.includes(u.login))).toBe(true);
      expect(await canBind(u.dn, next)).toBe(true);
      expect(await canBind(u.dn, old)).toBe(false);
      expect(await ldapPlugin.verify(t, pw(next))).toBe(true);
      expect(await ldapPlugin.verify(t, pw(old))).toBe(false);

      // Self-rotation finds it with an anonymous search (this directory lets anyone read ou=people).
      const third = `Third-${randomUUID()}`;
      const self = target({ admin: null, baseDn: c.baseDn, user: { login: u.login, credential: pw(next) } });
      await ldapPlugin.change(self.target, pw(third));
      expect(await canBind(u.dn, third)).toBe(true);
    }
  });

  it('a login that matches nothing is not_found; one that matches two entries fails without guessing', async () => {
    const missing = target({ baseDn: c.baseDn, user: { login: `pt-${run}-nobody`, credential: pw(`Old-${randomUUID()}`) } });
    const f = await failure(ldapPlugin.change(missing.target, pw(canary)));
    expect(f.reason).toBe('not_found');

    // One entry with uid=<login>, another whose cn is that login.
    const old = `Old-${randomUUID()}`;
    const first = await makeUser('twin', old);
    await makeUser('twin-other', old, { cn: first.login });
    const ambiguous = target({ baseDn: c.baseDn, user: { login: first.login, credential: pw(old) } });
    const a = await failure(ldapPlugin.change(ambiguous.target, pw(`New-${randomUUID()}`)));
    expect(a.reason).toBe('failed');
    expect(a.message).toContain('2 entries');
    expect(a.message).toContain('set distinguishedName');
    expect(await canBind(first.dn, old)).toBe(true);
  });

  it('a password the ppolicy refuses (shorter than pwdMinLength 12) is policy_refused, old password kept', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('policy', old);
    const short = `S${randomUUID().slice(0, 7)}`; // 8 characters
    const { target: t } = target({ user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    const f = await failure(ldapPlugin.change(t, pw(short)));
    expect(f.reason).toBe('policy_refused');
    expect(f.message).toContain('LDAP 19 constraintViolation');
    expect(f.message).toContain('quality');
    expect(f.message).not.toContain(short);
    expect(await canBind(u.dn, old)).toBe(true);
    expect(await canBind(u.dn, short)).toBe(false);

    // The same refusal for a user changing its own password.
    const self = target({ admin: null, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    const s = await failure(ldapPlugin.change(self.target, pw(short)));
    expect(s.reason).toBe('policy_refused');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('Active Directory on a non-SSL endpoint is unsupported, before any password is sent', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('ad', old);
    for (const directoryType of ['active_directory', 'Active Directory']) {
      const { target: t, lines } = target({ directoryType, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
      const f = await failure(ldapPlugin.change(t, pw(canary)));
      expect(f.reason).toBe('unsupported');
      expect(f.message).toContain('useSSL');
      expect(lines).toEqual([]);
    }
    const azure = target({ directoryType: 'azure_ad', user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    expect((await failure(ldapPlugin.change(azure.target, pw(canary)))).reason).toBe('unsupported');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  // slapd is not Active Directory: it stores the stand-in unicodePwd byte for byte and compares it
  // with octetStringMatch, and binds still check userPassword. What these tests prove is the AD
  // path on the wire: TLS, the attribute, the encoding, and the shape of the modify.
  it('AD admin reset over LDAPS replaces unicodePwd with the quoted UTF-16LE password', async () => {
    const old = `Old-${randomUUID()}`;
    const next = `New-"é😀\\-${randomUUID()}`;
    const u = await makeUser('ad-reset', old, { unicodePwd: old });
    const { target: t, lines } = target({
      ldaps: true,
      verifyTls: false,
      directoryType: 'active_directory',
      user: { login: u.login, distinguishedName: u.dn, credential: pw(old) },
    });
    await ldapPlugin.change(t, pw(next));
    expect((await storedUnicodePwd(u.dn))?.equals(encodeAdPassword(next))).toBe(true);
    expect(lines.join('\n')).toContain(`reset the unicodePwd of "${u.dn}"`);
    // userPassword is not AD's: untouched.
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('AD self-change deletes the old encoded value and adds the new one in one modify', async () => {
    const current = `Cur-'q"(x)*-ß-${randomUUID()}`;
    const next = `New-𝄞-${randomUUID()}`;
    // The user binds with userPassword here, so it holds the same current password.
    const u = await makeUser('ad-self', current, { unicodePwd: current });
    const { target: t, lines } = target({
      ldaps: true,
      verifyTls: false,
      admin: null,
      directoryType: 'Active Directory',
      user: { login: u.login, distinguishedName: u.dn, credential: pw(current) },
    });
    await ldapPlugin.change(t, pw(next));
    expect((await storedUnicodePwd(u.dn))?.equals(encodeAdPassword(next))).toBe(true);
    expect(lines.join('\n')).toContain(`changed the unicodePwd of "${u.dn}"`);

    // When the stored value is not the encoding of the current password, the delete matches
    // nothing and the whole modify is refused: nothing is added.
    const other = await makeUser('ad-mismatch', current, { unicodePwd: `Something-else-${randomUUID()}` });
    const before = await storedUnicodePwd(other.dn);
    const m = target({
      ldaps: true,
      verifyTls: false,
      admin: null,
      directoryType: 'active_directory',
      user: { login: other.login, distinguishedName: other.dn, credential: pw(current) },
    });
    const f = await failure(ldapPlugin.change(m.target, pw(next)));
    expect(f.reason).toBe('failed');
    expect(f.message).toContain('LDAP 16 noSuchAttribute');
    expect((await storedUnicodePwd(other.dn))?.equals(before!)).toBe(true);
  });

  it('finds an AD-style entry by sAMAccountName', async () => {
    const old = `Old-${randomUUID()}`;
    const sam = `pt-${run}-sam`;
    const dn = `cn=${dnValue(`pt-${run} Sam Person`)},${people}`;
    await asRoot((client) =>
      client.add(dn, [
        new Attribute({ type: 'objectClass', values: ['inetOrgPerson', 'posternAdAccount'] }),
        new Attribute({ type: 'cn', values: [`pt-${run} Sam Person`] }),
        new Attribute({ type: 'sn', values: ['Person'] }),
        new Attribute({ type: 'sAMAccountName', values: [sam] }),
        new Attribute({ type: 'userPassword', values: [old] }),
        new Attribute({ type: 'unicodePwd', values: [encodeAdPassword(old)] }),
      ]),
    );
    created.push(dn);
    const next = `New-${randomUUID()}`;
    const { target: t, lines } = target({
      ldaps: true,
      verifyTls: false,
      directoryType: 'active_directory',
      baseDn: c.baseDn,
      user: { login: sam, credential: pw(old) },
    });
    await ldapPlugin.change(t, pw(next));
    expect(lines.join('\n')).toContain(`found "${dn}" for login "${sam}"`);
    expect((await storedUnicodePwd(dn))?.equals(encodeAdPassword(next))).toBe(true);
  });

  it('rotates to and from passwords with quotes, backslashes, parentheses, asterisks and non-ASCII', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('specials', old);
    const specials = [`q"u'o"te\\back\\slash-(paren)*star*`, `éß€-中文-😀-𝄞 \\"*)(`, `*)(uid=*))(|(uid=*-${run}`];
    let current = old;
    for (const [i, next] of specials.entries()) {
      // Alternate admin resets and self-changes, so both send the special password as the old one too.
      const { target: t } = target({ admin: i % 2 === 0 ? admin : null, user: { login: u.login, distinguishedName: u.dn, credential: pw(current) } });
      await ldapPlugin.change(t, pw(next));
      expect(await canBind(u.dn, next)).toBe(true);
      expect(await canBind(u.dn, current)).toBe(false);
      expect(await ldapPlugin.verify(t, pw(next))).toBe(true);
      current = next;
    }
  });

  it('a cancelled job stops before talking to the directory, and the password is unchanged', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('cancel', old);
    const controller = new AbortController();
    controller.abort();
    const { target: t } = target({ signal: controller.signal, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    const f = await failure(ldapPlugin.change(t, pw(`New-${randomUUID()}`)));
    expect(f.reason).toBe('failed');
    expect(f.message).toContain('cancelled');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('a job cancelled between the admin bind and the password change sends no change', async () => {
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('cancel-mid', old);
    const controller = new AbortController();
    const { target: t } = target({ signal: controller.signal, user: { login: u.login, distinguishedName: u.dn, credential: pw(old) } });
    // Cancel from the job log line written right after the admin bind: no timing involved.
    const log = t.log;
    t.log = (line) => {
      log(line);
      if (line.startsWith('ldap: bound as the admin')) controller.abort();
    };
    const f = await failure(ldapPlugin.change(t, pw(`New-${randomUUID()}`)));
    expect(f.message).toContain('cancelled');
    expect(await canBind(u.dn, old)).toBe(true);
  });

  it('plain LDAP to the LDAPS port is unreachable, with a hint to turn on useSSL', async () => {
    const user: Account = { login: 'nobody', distinguishedName: `uid=nobody,${people}`, credential: pw(`Old-${randomUUID()}`) };
    const f = await failure(ldapPlugin.change(target({ port: Number(secure.port), user }).target, pw(canary)));
    expect(f.reason).toBe('unreachable');
    expect(f.message).toContain('turn on useSSL');
  });

  it('refuses key credentials and empty new passwords as unsupported', async () => {
    const user: Account = { login: 'k', distinguishedName: `uid=k,${people}`, credential: pw(`Old-${randomUUID()}`) };
    const key: Credential = { kind: 'key', privateKey: canary, publicKey: 'ssh-ed25519 AAAA' };
    expect((await failure(ldapPlugin.change(target({ user }).target, key))).reason).toBe('unsupported');
    expect((await failure(ldapPlugin.change(target({ user }).target, pw('')))).reason).toBe('unsupported');
  });

  it('never puts a canary password in an error message or a job log line', async () => {
    // The canary as the new password of a successful rotation, then as the current one of a
    // self-rotation and of a verify, on top of the failures above that used it.
    const old = `Old-${randomUUID()}`;
    const u = await makeUser('canary', old);
    const user = (password: string): Account => ({ login: u.login, distinguishedName: u.dn, credential: pw(password) });
    await ldapPlugin.change(target({ user: user(old) }).target, pw(canary));
    expect(await ldapPlugin.verify(target({ user: user(canary) }).target, pw(canary))).toBe(true);
    await ldapPlugin.change(target({ admin: null, user: user(canary) }).target, pw(`After-${randomUUID()}`));
    // A refused self-rotation whose current password is the canary, and a policy refusal of it.
    const refused = await failure(ldapPlugin.change(target({ admin: null, user: user(canary) }).target, pw(`X-${randomUUID()}`)));
    expect(refused.reason).toBe('admin_refused');
    expect(allLines.length).toBeGreaterThan(10);
    expect(allErrors.length).toBeGreaterThan(10);
    for (const text of [...allLines, ...allErrors]) {
      expect(text).not.toContain(canary);
      expect(text).not.toContain(adminPassword);
    }
  });
});
