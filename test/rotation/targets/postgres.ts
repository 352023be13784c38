/** A real PostgreSQL as a rotation target for the end-to-end suite (../suite.ts) and the benchmark. */
import pg from 'pg';
import { newRecordData } from '../../../core/records/index.ts';
import { testPostgresUrl } from '../../support/router.ts';
import type { TargetAdapter } from '../suite.ts';

const base = testPostgresUrl();
const suffix = Math.random().toString(36).slice(2, 8);
const admin = { login: `postern_admin_${suffix}`, password: 'Admin-Pw-For-Rotation-1' };
const created: string[] = [];
let superuser: pg.Client;

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export const postgresTarget: TargetAdapter = {
  unavailable: base ? null : 'POSTERN_TEST_DATABASE is not set (run through `npm test`, which finds or starts PostgreSQL)',
  async setup() {
    superuser = new pg.Client({ connectionString: base! });
    await superuser.connect();
    // An admin that may change other roles' passwords, not a superuser. Members of
    // postern_password_login must give their password even where the server trusts 127.0.0.1
    // (scripts/services/postgres.sh adds that pg_hba.conf rule).
    await superuser.query(`CREATE ROLE ${admin.login} LOGIN CREATEROLE PASSWORD ${literal(admin.password)} IN ROLE postern_password_login`);
    if (await postgresTarget.canLogin({ login: admin.login }, 'surely-not-the-password')) {
      throw new Error(
        'PostgreSQL accepts any password on 127.0.0.1 for members of postern_password_login (trust auth); run scripts/services/postgres.sh as root, which adds a scram-sha-256 rule for them.',
      );
    }
  },
  async cleanup() {
    for (const login of [...created, admin.login]) await superuser.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
    await superuser?.end();
  },
  resource: (port = Number(new URL(base!).port || 5432)) =>
    newRecordData('pamDatabase', `postgres ${suffix}`, { hostname: '127.0.0.1', port, databaseType: 'postgresql' }),
  admin: () => admin,
  async newUser(password) {
    const login = `postern_app_${suffix}_${created.length}`;
    await superuser.query(`CREATE ROLE ${login} LOGIN PASSWORD ${literal(password)} IN ROLE postern_password_login`);
    // PostgreSQL 16+: a CREATEROLE admin manages only roles granted to it with ADMIN OPTION.
    await superuser.query(`GRANT ${login} TO ${admin.login} WITH ADMIN OPTION`);
    created.push(login);
    return { login };
  },
  async canLogin(user, password) {
    const url = new URL(base!);
    const client = new pg.Client({
      host: url.hostname,
      port: Number(url.port || 5432),
      user: user.login,
      password,
      database: 'postgres',
      connectionTimeoutMillis: 5000,
    });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === '28P01') return false;
      throw err;
    } finally {
      await client.end().catch(() => {});
    }
  },
};
