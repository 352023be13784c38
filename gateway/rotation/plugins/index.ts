/**
 * Which plugin rotates a credential on which resource. A new target is one file next to this
 * one and one line below.
 */
import type { Endpoint, RotationPlugin } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';
import { ldapPlugin } from './ldap.ts';
import { mysqlPlugin } from './mysql.ts';
import { postgresPlugin } from './postgres.ts';
import { sshPlugin } from './ssh.ts';

export function pluginFor(endpoint: Endpoint): RotationPlugin {
  switch (endpoint.type) {
    // Linux and other Unix machines over SSH; Windows (WinRM) is not implemented.
    case 'pamMachine':
      return sshPlugin;
    case 'pamDirectory':
      return ldapPlugin;
    case 'pamDatabase': {
      // Without a databaseType, the well-known port decides.
      const type = endpoint.databaseType ?? (endpoint.port === 5432 ? 'postgresql' : endpoint.port === 3306 ? 'mysql' : undefined);
      if (type === 'postgresql') return postgresPlugin;
      if (type === 'mysql' || type === 'mariadb') return mysqlPlugin;
      throw new RotationFailure(
        'unsupported',
        `Rotating ${type ?? 'this'} database users is not supported yet; set databaseType to postgresql, mysql or mariadb.`,
      );
    }
  }
}
