/** A real OpenLDAP slapd as a rotation target for the end-to-end suite (../suite.ts) and the benchmark. */
import { Attribute, Change, Client } from 'ldapts';
import { newRecordData } from '../../../core/records/index.ts';
import type { TargetAdapter } from '../suite.ts';
import { requireService } from '../../support/services.ts';

interface LdapEnv {
  url: string;
  ldapsUrl: string;
  baseDn: string;
  adminDn: string;
  adminPassword: string;
}

const raw = requireService('slapd', 'POSTERN_TEST_LDAP');
const env: LdapEnv | null = raw ? (JSON.parse(raw) as LdapEnv) : null;
const suffix = Math.random().toString(36).slice(2, 8);
const created: string[] = [];
const people = () => `ou=people,${env!.baseDn}`;
const pamAdmins = () => `cn=pam-admins,ou=groups,${env!.baseDn}`;
const admin = { login: `pst-admin-${suffix}`, password: 'Admin-Pw-For-Rotation-1', distinguishedName: '' };

async function asRoot<T>(work: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: env!.url, timeout: 10_000, connectTimeout: 5_000 });
  try {
    await client.bind(env!.adminDn, env!.adminPassword);
    return await work(client);
  } finally {
    await client.unbind().catch(() => {});
  }
}

async function addPerson(login: string, password: string): Promise<string> {
  const dn = `uid=${login},${people()}`;
  await asRoot((c) =>
    c.add(dn, [
      new Attribute({ type: 'objectClass', values: ['inetOrgPerson'] }),
      new Attribute({ type: 'uid', values: [login] }),
      new Attribute({ type: 'cn', values: [login] }),
      new Attribute({ type: 'sn', values: ['rotation test'] }),
      new Attribute({ type: 'userPassword', values: [password] }),
    ]),
  );
  created.push(dn);
  return dn;
}

export const ldapTarget: TargetAdapter = {
  unavailable: env ? null : 'POSTERN_TEST_LDAP is not set (run through `npm test`, which starts a test slapd)',
  async setup() {
    // A directory admin that is not the rootDN: a member of cn=pam-admins, which slapd.sh lets write userPassword.
    admin.distinguishedName = await addPerson(admin.login, admin.password);
    await asRoot((c) =>
      c.modify(pamAdmins(), new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [admin.distinguishedName] }) })),
    );
  },
  async cleanup() {
    if (!env) return;
    await asRoot(async (c) => {
      await c
        .modify(pamAdmins(), new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [admin.distinguishedName] }) }))
        .catch(() => {});
      for (const dn of created) await c.del(dn).catch(() => {});
    });
  },
  resource: (port = Number(new URL(env!.url).port)) =>
    newRecordData('pamDirectory', `slapd ${suffix}`, { hostname: '127.0.0.1', port, useSSL: false, directoryType: 'openldap', distinguishedName: env!.baseDn }),
  admin: () => admin,
  async newUser(password) {
    const login = `pst-app-${suffix}-${created.length}`;
    return { login, distinguishedName: await addPerson(login, password) };
  },
  async canLogin(user, password) {
    const client = new Client({ url: env!.url, timeout: 10_000, connectTimeout: 5_000 });
    try {
      await client.bind(user.distinguishedName!, password);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 49) return false;
      throw err;
    } finally {
      await client.unbind().catch(() => {});
    }
  },
  // slapd.sh's password policy wants at least 12 characters.
  refusedComplexity: 'length=8',
};
