/**
 * The value lists that enumerated record fields accept (operating systems, database and
 * directory types, protocols, environments, port-mapping protocols, rotation schedule keywords),
 * and their types. Apart from the schemas (./record-types.ts) so the field validators
 * (./validators.ts) can check against them without importing the schemas they serve.
 */

export const OPERATING_SYSTEMS = ['linux', 'windows', 'macos', 'other'] as const;
export const DATABASE_TYPES = ['mysql', 'mariadb', 'postgresql', 'mssql', 'mongodb', 'oracle'] as const;
export const DIRECTORY_TYPES = ['active_directory', 'openldap', 'azure_ad'] as const;
export const PROTOCOLS = ['ssh', 'rdp', 'vnc', 'telnet', 'mysql', 'postgresql', 'sqlserver', 'http', 'kubernetes'] as const;
export const ENVIRONMENTS = ['local', 'aws', 'azure', 'domain'] as const;
/** Protocol names accepted on the right-hand side of a `portMapping` entry (`2222=ssh`). */
export const PORT_MAPPING_PROTOCOLS = [...PROTOCOLS, 'https', 'mariadb', 'mssql', 'mongodb', 'oracle', 'ldap', 'ldaps', 'winrm'] as const;
/** Keywords accepted by `defaultRotationSchedule`; anything else must be `cron:<5 fields>`. */
export const ROTATION_SCHEDULE_KEYWORDS = ['hourly', 'daily', 'weekly', 'monthly'] as const;

export type OperatingSystem = (typeof OPERATING_SYSTEMS)[number];
export type DatabaseType = (typeof DATABASE_TYPES)[number];
export type DirectoryType = (typeof DIRECTORY_TYPES)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type Environment = (typeof ENVIRONMENTS)[number];
