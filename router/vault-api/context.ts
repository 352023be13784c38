import type { Kysely } from 'kysely';
import type { RouterSubkeys } from '../../core/crypto/index.ts';
import type { Database } from '../../core/storage/schema.ts';
import type { AuditEvent } from '../audit/events.ts';
import type { RouterKeys, RouterLimits } from '../deps.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import type { Logger } from '../../core/logger.ts';
import type { RelayConfig } from '../relay/ice-servers.ts';

export interface SessionUser {
  uid: string;
  email: string;
  sessionTokenHash: string;
  sessionExpiresAt: number;
}

/** What one vault command handler may use; built fresh for every request. */
export interface VaultCallContext {
  db: Kysely<Database>;
  now: number;
  clientIp: string;
  limits: RouterLimits;
  logger: Logger;
  keys: RouterKeys;
  /** Keys derived from the Router key, one per purpose (core/crypto/router-subkeys.ts). */
  subkeys: RouterSubkeys;
  hub: GatewayHub;
  relay: RelayConfig | null;
  /** RouterDeps.openRegistration: anyone may register, without an invitation. */
  openRegistration: boolean;
  /** Present for every command outside PUBLIC_VAULT_COMMANDS. */
  user: SessionUser | null;
  audit: (
    event: Omit<AuditEvent, 'clientIp' | 'actorKind' | 'actor' | 'ownerUid'> & Partial<Pick<AuditEvent, 'actorKind' | 'actor' | 'ownerUid'>>,
  ) => Promise<void>;
}

export function requireUser(ctx: VaultCallContext): SessionUser {
  if (!ctx.user) throw new Error('handler for an authenticated command ran without a session');
  return ctx.user;
}
