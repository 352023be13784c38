import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as initial from './migrations/001_initial.ts';
import * as gateways from './migrations/002_gateways.ts';
import * as scriptApprovals from './migrations/003_script_approvals.ts';
import * as routerEdge from './migrations/004_router_edge.ts';
import * as invitations from './migrations/005_invitations.ts';
import * as nonceExpiry from './migrations/006_nonce_expiry.ts';
import type { Database } from './schema.ts';

/** Migrations are bundled in code (no filesystem), so every runtime can run them. */
const MIGRATIONS: Record<string, Migration> = {
  '001_initial': initial,
  '002_gateways': gateways,
  '003_script_approvals': scriptApprovals,
  '004_router_edge': routerEdge,
  '005_invitations': invitations,
  '006_nonce_expiry': nonceExpiry,
};

class BundledMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new BundledMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
