/** Where the Router keeps its state: a SQLite file, or a PostgreSQL server for scale. */
export type StorageLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** `postgres://…` / `postgresql://…` selects PostgreSQL; anything else is a SQLite file path. */
export function parseStorageLocation(value: string): StorageLocation {
  return /^postgres(ql)?:\/\//.test(value) ? { kind: 'postgres', url: value } : { kind: 'sqlite', path: value };
}
