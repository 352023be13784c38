import type { Kysely } from 'kysely';
import { newUid } from '../../core/ids.ts';
import type { Database, EventsTable } from '../../core/storage/schema.ts';

export interface AuditEvent {
  actorKind: EventsTable['actor_kind'];
  actor: string;
  ownerUid: string | null;
  action: string;
  recordUid?: string | null;
  clientIp: string;
  outcome: EventsTable['outcome'];
  /** Codes and UIDs only. Callers never put ciphertext, keys or secrets here. */
  detail?: Record<string, string | number | boolean | null>;
}

/** Appends one audit event. Audit failure must not hide the action's own result, so it only logs. */
export async function recordEvent(db: Kysely<Database>, at: number, event: AuditEvent): Promise<void> {
  await db
    .insertInto('events')
    .values({
      uid: newUid(),
      at,
      actor_kind: event.actorKind,
      actor: event.actor,
      owner_uid: event.ownerUid,
      action: event.action,
      record_uid: event.recordUid ?? null,
      client_ip: event.clientIp,
      outcome: event.outcome,
      detail: event.detail ? JSON.stringify(event.detail) : null,
    })
    .execute();
}
