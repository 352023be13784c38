/** A real MariaDB/MySQL as a rotation target for the end-to-end suite (../suite.ts) and the benchmark. */
import mysql from 'mysql2/promise';
import { newRecordData } from '../../../core/records/index.ts';
import type { TargetAdapter } from '../suite.ts';
import { requireService } from '../../support/services.ts';

const base = requireService('MariaDB', 'POSTERN_TEST_MYSQL');
const suffix = Math.random().toString(36).slice(2, 8);
const admin = { login: `pst_admin_${suffix}`, password: 'Admin-Pw-For-Rotation-1' };
const created: string[] = [];
let root: mysql.Connection;

const port = () => Number(new URL(base!).port || 3306);

export const mysqlTarget: TargetAdapter = {
  unavailable: base ? null : 'POSTERN_TEST_MYSQL is not set (run through `npm test`, which finds or starts MariaDB)',
  async setup() {
    root = await mysql.createConnection({ uri: base!, multipleStatements: false });
    // An admin that may change other accounts' passwords (CREATE USER covers ALTER USER), not root.
    await root.query('CREATE USER ?@? IDENTIFIED BY ?', [admin.login, '%', admin.password]);
    await root.query('GRANT CREATE USER ON *.* TO ?@?', [admin.login, '%']);
  },
  async cleanup() {
    for (const login of [...created, admin.login]) await root.query('DROP USER IF EXISTS ?@?', [login, '%']).catch(() => {});
    await root?.end();
  },
  resource: (p = port()) => newRecordData('pamDatabase', `mariadb ${suffix}`, { hostname: '127.0.0.1', port: p, databaseType: 'mariadb' }),
  admin: () => admin,
  async newUser(password) {
    const login = `pst_app_${suffix}_${created.length}`;
    await root.query('CREATE USER ?@? IDENTIFIED BY ?', [login, '%', password]);
    created.push(login);
    return { login };
  },
  async canLogin(user, password) {
    try {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: port(), user: user.login, password, connectTimeout: 5000 });
      await c.query('select 1');
      await c.end();
      return true;
    } catch (err) {
      if ((err as { errno?: number }).errno === 1045) return false;
      throw err;
    }
  },
};
