import type { Insertable, Kysely } from 'kysely';
import { prepareQuery } from '../../core/storage/prepared.ts';
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

/** Identical refusals within this long of the first one share its row. */
export const AUDIT_AGGREGATION_WINDOW_MS = 60 * 1000;
/** Open aggregation rows this process keeps track of; past it, the oldest is closed early. */
const MAX_OPEN_AGGREGATES = 10_000;

interface OpenAggregate {
  uid: string;
  firstAt: number;
  lastAt: number;
  count: number;
  detail: Record<string, string | number | boolean | null>;
  /** Updates of one row run one after another, so a count is never written over by an older one. */
  writing: Promise<void>;
}

/** Per storage (one Router), the denied and failed events whose row is still being counted into. */
const aggregates = new WeakMap<object, Map<string, OpenAggregate>>();

/**
 * Appends one audit event. A successful event is always its own row. A denied or failed one by a
 * user, device or anonymous caller joins the row of an identical event (same action, actor,
 * address, outcome, record, detail) from the last minute, whose detail then says `{count, firstAt, lastAt}`: a flood of refused
 * logins or gateway authentications is recorded in full without writing a row per attempt.
 * The open rows are counted in this process, so N Router processes write at most N rows per
 * minute for one kind of refusal, each with an exact count.
 */
export async function recordEvent(db: Kysely<Database>, at: number, event: AuditEvent): Promise<void> {
  // The Head's own decisions (system) are one per scheduled run already, each with its due time.
  if (event.outcome === 'ok' || event.actorKind === 'system') {
    await insertEvent(db, newUid(), at, event, event.detail ?? null);
    return;
  }
  let open = aggregates.get(db);
  if (!open) aggregates.set(db, (open = new Map()));
  const key = JSON.stringify([
    event.action,
    event.actorKind,
    event.actor,
    event.ownerUid,
    event.clientIp,
    event.outcome,
    event.recordUid ?? null,
    event.detail ?? null,
  ]);
  const current = open.get(key);
  if (current && at - current.firstAt < AUDIT_AGGREGATION_WINDOW_MS && at >= current.firstAt) {
    current.count++;
    current.lastAt = Math.max(current.lastAt, at);
    const write = current.writing.then(() =>
      db
        .updateTable('events')
        .set({ detail: JSON.stringify({ ...current.detail, count: current.count, firstAt: current.firstAt, lastAt: current.lastAt }) })
        .where('uid', '=', current.uid)
        .execute()
        .then(() => undefined),
    );
    current.writing = write.catch(() => undefined);
    await write;
    return;
  }
  if (open.size >= MAX_OPEN_AGGREGATES) closeOldest(open, at);
  const aggregate: OpenAggregate = { uid: newUid(), firstAt: at, lastAt: at, count: 1, detail: event.detail ?? {}, writing: Promise.resolve() };
  open.set(key, aggregate);
  const write = insertEvent(db, aggregate.uid, at, event, { ...aggregate.detail, count: 1, firstAt: at, lastAt: at });
  aggregate.writing = write.catch(() => undefined);
  await write;
}

/** Forget rows whose window is over; if none is, the one opened first. */
function closeOldest(open: Map<string, OpenAggregate>, at: number): void {
  for (const [key, aggregate] of open) if (at - aggregate.firstAt >= AUDIT_AGGREGATION_WINDOW_MS) open.delete(key);
  if (open.size >= MAX_OPEN_AGGREGATES) open.delete(open.keys().next().value!);
}

/** One row per event, on the path of most requests: prepared (core/storage/prepared.ts). */
const insertEventRow = prepareQuery<Database, Required<Insertable<EventsTable>>>()((db, $) =>
  db.insertInto('events').values({
    uid: $.uid,
    at: $.at,
    actor_kind: $.actor_kind,
    actor: $.actor,
    owner_uid: $.owner_uid,
    action: $.action,
    record_uid: $.record_uid,
    client_ip: $.client_ip,
    outcome: $.outcome,
    detail: $.detail,
  }),
);

async function insertEvent(db: Kysely<Database>, uid: string, at: number, event: AuditEvent, detail: Record<string, unknown> | null): Promise<void> {
  await insertEventRow.execute(db, {
    uid,
    at,
    actor_kind: event.actorKind,
    actor: event.actor,
    owner_uid: event.ownerUid,
    action: event.action,
    record_uid: event.recordUid ?? null,
    client_ip: event.clientIp,
    outcome: event.outcome,
    detail: detail ? JSON.stringify(detail) : null,
  });
}
