/**
 * The Head's scheduler against real storage (SQLite, and PostgreSQL when the suite has it), with
 * the action itself stubbed: claims, advancing, missed runs, stuck claims, bad schedules, outcomes.
 * The end-to-end suites in test/schedule/ drive it through real Routers and a real gateway.
 */
import type { Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import type { ActionOutcome, VaultInput } from '../../core/protocol/vault-api.ts';
import type { RotationSchedule } from '../../core/schedule/rotation-schedule.ts';
import type { Database } from '../../core/storage/schema.ts';
import { sharedStorage, type SharedStorage } from '../../test/schedule/support.ts';
import { storageBackends } from '../../test/support/router.ts';
import type { ActionActor, ActionEnv } from '../actions/start-action.ts';
import { openStorage, parseStorageLocation } from '../adapters/node/index.ts';
import type { GatewayHub } from '../gateway/hub.ts';
import { silentLogger } from '../../core/logger.ts';
import { RotationScheduler, startHead } from './scheduler.ts';

const DAY = 86_400_000;
const fakeHub = (workerId: string, connectedHere: string[] = [], bus: { ok: boolean } = { ok: true }) =>
  ({ workerId, isConnectedHere: (uid: string) => connectedHere.includes(uid), busStatus: () => bus }) as unknown as GatewayHub;

interface Fired {
  recordUid: string;
  by: string;
  actor: ActionActor;
  input: VaultInput<'action.send'>;
}

describe.each(storageBackends())('RotationScheduler (%s)', (backend) => {
  let storage: SharedStorage;
  /** Two connections to one database, as two Router processes would have. */
  let dbA: Kysely<Database>;
  let dbB: Kysely<Database>;
  let clock: number;
  const okAnswer = async (): Promise<ActionOutcome> => ({ code: 'ok', jobUid: 'job1', gatewayUid: 'gw1' });
  let fired: Fired[] = [];
  let answer: (input: VaultInput<'action.send'>) => Promise<ActionOutcome> = okAnswer;
  const schedulers: RotationScheduler[] = [];
  let seq = 0;

  beforeAll(async () => {
    storage = await sharedStorage(backend);
    dbA = await openStorage(parseStorageLocation(storage.database));
    dbB = await openStorage(parseStorageLocation(storage.database));
  });
  afterAll(async () => {
    await dbA?.destroy();
    await dbB?.destroy();
    await storage?.drop();
  });
  afterEach(async () => {
    for (const s of schedulers.splice(0)) await s.close();
    await dbA.deleteFrom('rotation_schedules').execute();
    await dbA.deleteFrom('schedule_runs').execute();
    await dbA.deleteFrom('events').execute();
    await dbA.deleteFrom('pam_configurations').execute();
    await dbA.deleteFrom('gateway_sessions').execute();
    fired = [];
    answer = okAnswer;
  });

  function scheduler(
    db: Kysely<Database>,
    workerId: string,
    extra: { tickMs?: number; startGraceMs?: number; connectedHere?: string[]; bus?: { ok: boolean } } = {},
  ): RotationScheduler {
    const { connectedHere, bus, ...tuning } = extra;
    const s = new RotationScheduler({
      db,
      hub: fakeHub(workerId, connectedHere, bus),
      logger: silentLogger,
      now: () => clock,
      workerId,
      ...tuning,
      fire: async (_env: ActionEnv, actor: ActionActor, input: VaultInput<'action.send'>) => {
        fired.push({ recordUid: input.recordUid!, by: workerId, actor, input });
        return answer(input);
      },
    });
    schedulers.push(s);
    return s;
  }

  async function addSchedule(schedule: RotationSchedule | string, nextRunAt: number | null, recordUid = `rec${++seq}`): Promise<string> {
    await dbA
      .insertInto('rotation_schedules')
      .values({
        record_uid: recordUid,
        configuration_uid: 'cfg1',
        resource_uid: null,
        schedule: typeof schedule === 'string' ? schedule : JSON.stringify(schedule),
        next_run_at: nextRunAt,
        owner_uid: 'owner1',
        updated_at: 1,
      })
      .execute();
    return recordUid;
  }

  const nextRunAt = async (recordUid: string) => {
    const row = await dbA.selectFrom('rotation_schedules').select('next_run_at').where('record_uid', '=', recordUid).executeTakeFirstOrThrow();
    return row.next_run_at === null ? null : Number(row.next_run_at);
  };
  const runsOf = (recordUid: string) => dbA.selectFrom('schedule_runs').selectAll().where('record_uid', '=', recordUid).orderBy('due_at').execute();

  it('fires each due time exactly once when two schedulers on one database tick together', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    const records: string[] = [];
    for (let i = 0; i < 20; i++) records.push(await addSchedule({ kind: 'once', at: clock - 1000 + i }, clock - 1000 + i));
    const a = scheduler(dbA, 'head-a');
    const b = scheduler(dbB, 'head-b');
    for (let round = 0; round < 3; round++) {
      const [ra, rb] = await Promise.all([a.tick(), b.tick()]);
      expect(ra.claimed.filter((r) => rb.claimed.includes(r))).toEqual([]);
      if (round === 0) {
        // Both read the same due rows and raced for each: the losers were skipped, not fired.
        expect(ra.claimed.length + rb.claimed.length).toBe(20);
        expect(ra.skipped.length + rb.skipped.length).toBeGreaterThan(0);
      }
    }
    await Promise.all([a.drain(), b.drain()]);
    expect(fired.map((f) => f.recordUid).sort()).toEqual([...records].sort());
    for (const record of records) {
      expect(await nextRunAt(record)).toBeNull();
      const runs = await runsOf(record);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ outcome: 'ok', fired_at: clock });
      expect(['head-a', 'head-b']).toContain(runs[0]!.fired_by);
    }
  });

  it('pushes the rotate action a person would, as the owner, labelled "schedule"', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    const record = await addSchedule({ kind: 'once', at: clock }, clock);
    await dbA.updateTable('rotation_schedules').set({ resource_uid: 'res1' }).where('record_uid', '=', record).execute();
    const a = scheduler(dbA, 'head-a');
    await a.tick();
    await a.drain();
    expect(fired).toHaveLength(1);
    expect(fired[0]!.actor).toEqual({ userUid: 'owner1', label: 'schedule' });
    expect(fired[0]!.input).toEqual({ action: 'rotate', recordUid: record, configurationUid: 'cfg1', resourceUid: 'res1' });
    const [event] = await dbA.selectFrom('events').selectAll().where('record_uid', '=', record).execute();
    expect(event).toMatchObject({ actor_kind: 'system', actor: 'schedule', owner_uid: 'owner1', action: 'action.rotate', outcome: 'ok' });
    expect(JSON.parse(event!.detail!)).toEqual({ code: 'ok', schedule: true, dueAt: clock, gatewayUid: 'gw1', jobUid: 'job1' });
  });

  it('waits for the due time, then advances to the next slot', async () => {
    const due = Date.UTC(2026, 0, 1, 3);
    const record = await addSchedule({ kind: 'daily', time: '03:00', timeZone: 'UTC', interval: 1 }, due);
    const a = scheduler(dbA, 'head-a');
    clock = due - 1;
    expect((await a.tick()).due).toBe(0);
    clock = due;
    expect((await a.tick()).claimed).toEqual([record]);
    expect(await nextRunAt(record)).toBe(due + DAY);
    clock = due + 500;
    expect((await a.tick()).due).toBe(0);
    await a.drain();
    expect(fired).toHaveLength(1);
  });

  it('fires a schedule missed while the Router was down once, then resumes its calendar', async () => {
    const firstMissed = Date.UTC(2026, 0, 1, 3);
    const record = await addSchedule({ kind: 'daily', time: '03:00', timeZone: 'UTC', interval: 1 }, firstMissed);
    const once = await addSchedule({ kind: 'once', at: firstMissed + 3600_000 }, firstMissed + 3600_000);
    clock = Date.UTC(2026, 0, 4, 10); // three and a half days later
    const a = scheduler(dbA, 'head-a');
    expect((await a.tick()).claimed.sort()).toEqual([record, once].sort());
    expect((await a.tick()).due).toBe(0);
    await a.drain();
    expect(fired.map((f) => f.recordUid).sort()).toEqual([record, once].sort());
    expect(await nextRunAt(record)).toBe(Date.UTC(2026, 0, 5, 3));
    expect(await nextRunAt(once)).toBeNull();
    expect((await runsOf(record)).map((r) => [Number(r.due_at), r.outcome])).toEqual([[firstMissed, 'ok']]);
  });

  it('skips a due time another process claimed but never advanced, and unsticks the schedule', async () => {
    const due = Date.UTC(2026, 0, 1, 3);
    const record = await addSchedule({ kind: 'daily', time: '03:00', timeZone: 'UTC', interval: 1 }, due);
    await dbA.insertInto('schedule_runs').values({ record_uid: record, due_at: due, fired_at: due, fired_by: 'crashed-head', outcome: 'claimed' }).execute();
    clock = due + 2000;
    const a = scheduler(dbA, 'head-a');
    const result = await a.tick();
    expect(result).toEqual({ due: 1, claimed: [], skipped: [record] });
    expect(await nextRunAt(record)).toBe(due + DAY);
    expect(fired).toEqual([]);
    expect((await runsOf(record)).map((r) => r.fired_by)).toEqual(['crashed-head']);
  });

  it('switches off schedules that can no longer run, and carries on with the rest', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    const badCron = await addSchedule(JSON.stringify({ kind: 'cron', expression: 'not a cron pattern', timeZone: 'UTC' }), clock - 3);
    const garbage = await addSchedule('{"kind":', clock - 2);
    const good = await addSchedule({ kind: 'once', at: clock - 1 }, clock - 1);
    const a = scheduler(dbA, 'head-a');
    const result = await a.tick();
    expect(result.claimed).toEqual([good]);
    await a.drain();
    expect(fired.map((f) => f.recordUid)).toEqual([good]);
    expect(await nextRunAt(badCron)).toBeNull();
    expect(await nextRunAt(garbage)).toBeNull();
    expect(await runsOf(badCron)).toEqual([]);
  });

  it('records refusals as denied runs with an audit event, failures by their code, and survives errors', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    const denied = await addSchedule({ kind: 'once', at: clock - 4 }, clock - 4);
    const offline = await addSchedule({ kind: 'once', at: clock - 3 }, clock - 3);
    const broken = await addSchedule({ kind: 'once', at: clock - 2 }, clock - 2);
    const unbound = await addSchedule({ kind: 'once', at: clock - 1 }, clock - 1);
    const fine = await addSchedule({ kind: 'once', at: clock }, clock);
    answer = async (input) => {
      if (input.recordUid === denied) throw new PosternError('not_allowed', 'Your roles do not include the "rotate" policy.', { policy: 'rotate' });
      if (input.recordUid === offline) return { code: 'controller_down', gatewayUid: 'gw1', jobUid: 'job2' };
      if (input.recordUid === broken) throw new Error('socket hang up');
      if (input.recordUid === unbound) throw new PosternError('bad_state', 'names no gateway');
      return { code: 'ok', jobUid: 'job3', gatewayUid: 'gw1' };
    };
    const a = scheduler(dbA, 'head-a');
    expect((await a.tick()).claimed).toHaveLength(5);
    await a.drain();
    const outcomes = Object.fromEntries(await Promise.all([denied, offline, broken, unbound, fine].map(async (r) => [r, (await runsOf(r))[0]!.outcome])));
    expect(outcomes).toEqual({ [denied]: 'denied', [offline]: 'controller_down', [broken]: 'internal', [unbound]: 'bad_state', [fine]: 'ok' });
    const events = await dbA.selectFrom('events').selectAll().where('action', '=', 'action.rotate').execute();
    const byRecord = Object.fromEntries(events.map((e) => [e.record_uid, { outcome: e.outcome, detail: JSON.parse(e.detail!) as Record<string, unknown> }]));
    expect(byRecord[denied]).toEqual({ outcome: 'denied', detail: { code: 'not_allowed', schedule: true, dueAt: clock - 4, reason: 'rotate' } });
    expect(byRecord[offline]).toMatchObject({ outcome: 'failed', detail: { code: 'controller_down' } });
    expect(byRecord[broken]).toMatchObject({ outcome: 'failed', detail: { code: 'internal' } });
    expect(byRecord[unbound]).toMatchObject({ outcome: 'failed', detail: { code: 'bad_state' } });
    expect(byRecord[fine]).toMatchObject({ outcome: 'ok' });
    for (const e of events) expect(e).toMatchObject({ actor_kind: 'system', actor: 'schedule', owner_uid: 'owner1' });
  });

  it('after start, lets a due schedule wait for its gateway to reconnect, within a grace period', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    await dbA
      .insertInto('pam_configurations')
      .values({ config_uid: 'cfg1', gateway_uid: 'gw1', features: '{"rotation":true}', updated_by: 'owner1', updated_at: 1 })
      .execute();
    const record = await addSchedule({ kind: 'once', at: clock - 60_000 }, clock - 60_000);
    const a = scheduler(dbA, 'head-a', { startGraceMs: 10_000 });
    expect(await a.tick()).toEqual({ due: 1, claimed: [], skipped: [record] });
    expect(await nextRunAt(record)).toBe(clock - 60_000);
    expect(await runsOf(record)).toEqual([]);
    // A session its own Worker left behind (a crash) does not count; a fresh one elsewhere does.
    await dbA
      .insertInto('gateway_sessions')
      .values({ gateway_uid: 'gw1', worker_id: 'head-a', address: '127.0.0.1', version: 't', connected_at: clock, last_seen_at: clock })
      .execute();
    expect((await a.tick()).claimed).toEqual([]);
    await dbA.updateTable('gateway_sessions').set({ worker_id: 'worker-2' }).execute();
    expect((await a.tick()).claimed).toEqual([record]);

    // Connected to this process: no waiting either.
    await dbA.deleteFrom('gateway_sessions').execute();
    const here = scheduler(dbA, 'head-b', { startGraceMs: 10_000, connectedHere: ['gw1'] });
    const second = await addSchedule({ kind: 'once', at: clock }, clock);
    expect((await here.tick()).claimed).toEqual([second]);

    // After the grace period a run no longer waits: it fires, and an absent gateway is its outcome.
    const third = await addSchedule({ kind: 'once', at: clock }, clock);
    expect((await a.tick()).claimed).toEqual([]);
    clock += 10_000;
    answer = async () => ({ code: 'controller_down', jobUid: 'job4', gatewayUid: 'gw1' });
    expect((await a.tick()).claimed).toEqual([third]);
    await Promise.all([a.drain(), here.drain()]);
    expect((await runsOf(third))[0]!.outcome).toBe('controller_down');
  });

  it('while the cluster bus is down, leaves a due schedule due (unless its gateway is here) and fires it once when the bus is back', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    await dbA
      .insertInto('pam_configurations')
      .values({ config_uid: 'cfg1', gateway_uid: 'gw1', features: '{"rotation":true}', updated_by: 'owner1', updated_at: 1 })
      .execute();
    const bus = { ok: false };
    const record = await addSchedule({ kind: 'once', at: clock - 1_000 }, clock - 1_000);
    const a = scheduler(dbA, 'head-a', { startGraceMs: 0, bus });
    for (let i = 0; i < 3; i++) {
      clock += 1_000;
      expect(await a.tick()).toEqual({ due: 1, claimed: [], skipped: [record] });
    }
    expect(await runsOf(record)).toEqual([]);
    expect(fired).toEqual([]);

    // A gateway connected to this very process needs no bus.
    const here = scheduler(dbA, 'head-b', { startGraceMs: 0, bus, connectedHere: ['gw1'] });
    expect((await here.tick()).claimed).toEqual([record]);
    await here.drain();
    expect(fired).toHaveLength(1);

    const later = await addSchedule({ kind: 'once', at: clock }, clock);
    expect((await a.tick()).claimed).toEqual([]);
    bus.ok = true;
    expect((await a.tick()).claimed).toEqual([later]);
    expect((await a.tick()).claimed).toEqual([]);
    await a.drain();
    expect(fired.map((f) => f.recordUid)).toEqual([record, later]);
    expect((await runsOf(later)).map((r) => r.outcome)).toEqual(['ok']);
  });

  it('ticks on its own once started, and stops', async () => {
    clock = Date.UTC(2026, 0, 1, 12);
    const first = await addSchedule({ kind: 'once', at: clock }, clock);
    const a = scheduler(dbA, 'head-a', { tickMs: 20 }).start();
    await expect.poll(() => fired.length).toBe(1);
    await a.stop();
    await addSchedule({ kind: 'once', at: clock }, clock);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(fired.map((f) => f.recordUid)).toEqual([first]);
  });
});

describe('startHead', () => {
  const deps = { db: {} as Kysely<Database>, logger: silentLogger };
  const services = { hub: fakeHub('w1'), now: Date.now };

  it('does not run on a pure Worker', () => {
    expect(startHead({ ...deps, head: false }, services)).toBeNull();
  });

  it('runs by default and with options', async () => {
    for (const head of [undefined, true, { tickMs: 60_000 }]) {
      const s = startHead({ ...deps, ...(head === undefined ? {} : { head }) }, { ...services, now: () => 0 });
      expect(s).toBeInstanceOf(RotationScheduler);
      await s!.close();
    }
  });
});
