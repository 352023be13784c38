import { describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { JobUpdate } from '../../core/protocol/gateway-wire.ts';
import { newSignallingSessionId } from '../../core/protocol/webrtc-signalling.ts';
import { newRecordData, type RecordData } from '../../core/records/index.ts';
import type { SecretRecord } from '../../core/secrets-client/index.ts';
import { SecretScrubber } from '../logging/scrubber.ts';
import { JobTracker } from '../jobs.ts';
import { TunnelSessions } from '../tunnel/sessions.ts';
import { ACTION_HANDLERS, dispatchAction, type ActionContext } from './index.ts';

const CANARY = 'rotate-canary-0xC0FFEE';
const gatewayUid = newUid();
const folderUid = newUid();

function secret(uid: string, data: RecordData): SecretRecord {
  return { uid, type: data.type, folderUid, revision: 3, data, pending: null, files: [], links: [] };
}

function context(records: Map<string, SecretRecord>, options: { failWith?: Error } = {}) {
  const updates: JobUpdate[] = [];
  const logged: string[] = [];
  const scrubber = new SecretScrubber();
  const log = (obj: Record<string, unknown>, msg?: string) => logged.push(scrubber.scrub(JSON.stringify({ ...obj, msg })));
  const logger = { info: log, warn: log, debug: log, error: log };
  const tasks = new JobTracker({ sink: { sendJob: (u) => (updates.push(u), true) }, scrubber, logger });
  const ctx: ActionContext = {
    version: '9.9.9',
    gatewayUid: () => gatewayUid,
    connectedSince: () => 1,
    startedAt: Date.now() - 5000,
    tasks,
    tunnels: new TunnelSessions(logger),
    scrubber,
    logger,
    secrets: {
      async getSecrets(uids) {
        if (options.failWith) throw options.failWith;
        if (!uids) return [...records.values()];
        const out = uids.map((u) => records.get(u));
        if (out.some((r) => !r)) throw new PosternError('not_allowed', 'Record is not shared to this application.');
        return out as SecretRecord[];
      },
      // Writing is exercised by gateway/rotation/engine.test.ts; these rotations never get there.
      updateSecret: () => Promise.reject(new Error('not expected in this test')),
      finalizeSecretUpdate: () => Promise.reject(new Error('not expected in this test')),
      downloadFile: () => Promise.reject(new Error('not expected in this test')),
      // A fake that holds no record keys: its jobs report in plaintext (sealing: gateway/tasks.test.ts).
      recordKey: () => undefined,
    },
  };
  return { ctx, updates, logged, scrubber };
}

function pamRecords(boundTo = gatewayUid) {
  const userUid = newUid();
  const configUid = newUid();
  const records = new Map([
    [userUid, secret(userUid, newRecordData('pamUser', 'db root', { login: 'root', password: CANARY }))],
    [
      configUid,
      secret(
        configUid,
        newRecordData('pamConfiguration', 'local', {
          environment: 'local',
          gatewayUid: boundTo,
          applicationFolderUid: folderUid,
          features: { rotation: true },
        }),
      ),
    ],
  ]);
  return { userUid, configUid, records };
}

async function ended(updates: JobUpdate[]): Promise<JobUpdate> {
  await expect.poll(() => updates.find((u) => u.status !== 'running')).toBeDefined();
  return updates.find((u) => u.status !== 'running')!;
}

describe('gateway actions', () => {
  it('answers exactly the actions of the Router catalog', () => {
    expect(Object.keys(ACTION_HANDLERS).sort()).toEqual(['discover-job-start', 'gateway-info', 'job-cancel', 'job-info', 'rotate', 'webrtc-session']);
  });

  it('gateway-info reports the gateway, not its secrets', async () => {
    const { ctx } = context(new Map());
    const reply = await dispatchAction({ action: 'gateway-info', params: {} }, ctx);
    expect(reply.code).toBe('ok');
    expect(reply.data).toMatchObject({ version: '9.9.9', gatewayUid, pid: process.pid, node: process.version, runningTasks: 0 });
    expect((reply.data as { uptimeSeconds: number }).uptimeSeconds).toBeGreaterThanOrEqual(4);
  });

  it('rotate answers ok at once, fetches the records, and fails a pamUser linked to no resource', async () => {
    const { userUid, configUid, records } = pamRecords();
    const { ctx, updates, logged, scrubber } = context(records);
    const jobUid = newUid();
    const reply = await dispatchAction(
      { action: 'rotate', params: { jobUid, recordUid: userUid, configurationUid: configUid, resourceUid: null, adminCredentialUid: null } },
      ctx,
    );
    expect(reply).toEqual({ code: 'ok', data: { jobUid } });
    const last = await ended(updates);
    expect(last).toMatchObject({ jobUid, status: 'failed', message: expect.stringMatching(/^bad_request: pamUser .* is linked to no resource/) });
    expect(updates.map((u) => u.step)).toEqual(['started', 'fetching records', 'failed']);
    expect(scrubber.has(CANARY)).toBe(true);
    expect(JSON.stringify(updates) + logged.join('\n')).not.toContain(CANARY);
    // job-info sees it; a second rotate with the same job id is refused.
    expect(await dispatchAction({ action: 'job-info', params: { jobUid } }, ctx)).toMatchObject({ code: 'ok', data: { jobUid, status: 'failed' } });
    expect(
      (
        await dispatchAction(
          { action: 'rotate', params: { jobUid, recordUid: userUid, configurationUid: configUid, resourceUid: null, adminCredentialUid: null } },
          ctx,
        )
      ).code,
    ).toBe('bad_state');
  });

  it('rotate refuses a configuration bound to another gateway, a non-pamUser, and unshared records', async () => {
    const other = pamRecords(newUid());
    const a = context(other.records);
    await dispatchAction(
      {
        action: 'rotate',
        params: { jobUid: newUid(), recordUid: other.userUid, configurationUid: other.configUid, resourceUid: null, adminCredentialUid: null },
      },
      a.ctx,
    );
    expect((await ended(a.updates)).message).toMatch(/^not_allowed: PAM configuration .* names gateway/);

    const mine = pamRecords();
    const b = context(mine.records);
    await dispatchAction(
      {
        action: 'rotate',
        params: { jobUid: newUid(), recordUid: mine.configUid, configurationUid: mine.configUid, resourceUid: null, adminCredentialUid: null },
      },
      b.ctx,
    );
    expect((await ended(b.updates)).message).toMatch(/^bad_request: .* not a pamUser/);

    const c = context(mine.records);
    await dispatchAction(
      { action: 'rotate', params: { jobUid: newUid(), recordUid: newUid(), configurationUid: mine.configUid, resourceUid: null, adminCredentialUid: null } },
      c.ctx,
    );
    expect((await ended(c.updates)).message).toMatch(/^not_allowed/);
  });

  // threat model (docs/threat-model.md): database-only attacker (item 18)
  it('webrtc-session refuses a configuration bound to another gateway, or to none, by the same check as rotate', async () => {
    const resourceUid = newUid();
    const ask = (boundTo: string | undefined) => {
      const configUid = newUid();
      const config = newRecordData('pamConfiguration', 'local', {
        environment: 'local',
        gatewayUid: boundTo ?? newUid(),
        applicationFolderUid: folderUid,
        features: { tunneling: true },
      });
      // A valid record always names its gateway; one that does not (made by hand, or by an older vault) is refused too.
      if (boundTo === undefined) delete (config.fields as Record<string, unknown>)['gatewayUid'];
      const records = new Map([
        [resourceUid, secret(resourceUid, newRecordData('pamMachine', 'web', { hostname: '127.0.0.1', port: 22 }))],
        [configUid, secret(configUid, config)],
      ]);
      const params = { recordUid: resourceUid, configurationUid: configUid, sessionId: newSignallingSessionId(), offer: 'sealed', iceServers: [] };
      return { configUid, reply: dispatchAction({ action: 'webrtc-session', params }, context(records).ctx) };
    };
    const elsewhere = newUid();
    const other = ask(elsewhere);
    expect(await other.reply).toEqual({
      code: 'not_allowed',
      message: `PAM configuration ${other.configUid} names gateway ${elsewhere}, not this gateway (${gatewayUid}).`,
    });
    const unbound = ask(undefined);
    expect(await unbound.reply).toEqual({
      code: 'not_allowed',
      message: `PAM configuration ${unbound.configUid} names gateway undefined, not this gateway (${gatewayUid}).`,
    });
  });

  it('a failure carrying a secret is scrubbed before it is reported or logged', async () => {
    const { userUid, configUid, records } = pamRecords();
    const x = context(records, { failWith: new Error(`connection reset while sending ${CANARY}`) });
    x.scrubber.add(CANARY);
    await dispatchAction(
      { action: 'rotate', params: { jobUid: newUid(), recordUid: userUid, configurationUid: configUid, resourceUid: null, adminCredentialUid: null } },
      x.ctx,
    );
    const last = await ended(x.updates);
    expect(last.message).toBe('internal: connection reset while sending [REDACTED]');
    expect(JSON.stringify(x.updates) + x.logged.join('\n')).not.toContain(CANARY);
  });

  it('job-cancel stops a running job; job-info and job-cancel refuse unknown jobs', async () => {
    const { userUid, configUid, records } = pamRecords();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const x = context(records);
    const real = x.ctx.secrets.getSecrets.bind(x.ctx.secrets);
    x.ctx.secrets = { ...x.ctx.secrets, getSecrets: async (u) => (await gate, real(u)) };
    const jobUid = newUid();
    await dispatchAction(
      { action: 'rotate', params: { jobUid, recordUid: userUid, configurationUid: configUid, resourceUid: null, adminCredentialUid: null } },
      x.ctx,
    );
    expect(await dispatchAction({ action: 'job-cancel', params: { jobUid } }, x.ctx)).toEqual({ code: 'ok', data: { jobUid, status: 'cancelled' } });
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(x.updates.filter((u) => u.status !== 'running').map((u) => u.status)).toEqual(['cancelled']);
    expect((await dispatchAction({ action: 'job-cancel', params: { jobUid } }, x.ctx)).code).toBe('bad_state');
    expect((await dispatchAction({ action: 'job-info', params: { jobUid: newUid() } }, x.ctx)).code).toBe('bad_state');
    expect((await dispatchAction({ action: 'job-cancel', params: { jobUid: newUid() } }, x.ctx)).code).toBe('bad_state');
  });

  it('refuses bad params, unknown actions and the actions of later versions with clear messages', async () => {
    const { ctx } = context(new Map());
    expect(await dispatchAction({ action: 'rotate', params: { jobUid: 'nope' } }, ctx)).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('"rotate" params are invalid at jobUid'),
    });
    expect(await dispatchAction({ action: 'job-info', params: {} }, ctx)).toMatchObject({ code: 'bad_request' });
    expect(await dispatchAction({ action: 'frobnicate', params: {} }, ctx)).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('Unknown action "frobnicate"'),
    });
    expect(await dispatchAction({ action: 'constructor', params: {} }, ctx)).toMatchObject({ code: 'bad_request' });
    expect(await dispatchAction({ action: 'discover-job-start', params: { jobUid: newUid(), configurationUid: newUid() } }, ctx)).toEqual({
      code: 'bad_request',
      message: 'The "discover-job-start" action is not available in this gateway version (9.9.9).',
    });
    expect(await dispatchAction({ action: 'webrtc-session', params: { recordUid: newUid() } }, ctx)).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('"webrtc-session" params are invalid'),
    });
  });
});
