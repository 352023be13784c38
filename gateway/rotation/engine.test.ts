/**
 * The engine's decisions, with an in-memory vault (pending rotation transactions like the
 * Router's) and a fake target whose behaviour each test sets. The real targets are exercised in
 * ./plugins/*.test.ts and end to end in test/rotation/.
 */
import { describe, expect, it } from 'vitest';
import { deriveRouterSubkeys, randomBytes } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { newUid } from '../../core/ids.ts';
import type { JobUpdate } from '../../core/protocol/gateway-wire.ts';
import { signScriptApproval } from '../../core/protocol/script-approval.ts';
import { newRecordData, type RecordData } from '../../core/records/index.ts';
import type { SecretRecord } from '../../core/secrets-client/index.ts';
import { SecretScrubber } from '../logging/scrubber.ts';
import { JobTracker } from '../jobs.ts';
import { runRotation, type RotationSecrets } from './engine.ts';
import { RotationFailure, type Credential, type RotationPlugin } from './plugin.ts';
import { postRotationScripts } from './scripts.ts';

const OLD = 'Old-Canary-Secret-1!';
const gatewayUid = newUid();
// Scripts run only when approved (./scripts.test.ts); these are, by a stand-in Router key.
const routerSigning = deriveRouterSubkeys(randomBytes(32)).signing;
const digestOf = (fileUid: string) => `digest-of-${fileUid}`;
const approvedScript = async (uid: string, recordUid: string, name: string, mime: string) => ({
  uid,
  kind: 'script' as const,
  name,
  mime,
  size: 1,
  approval: await signScriptApproval(
    routerSigning.privateKey,
    { fileUid: uid, recordUid, contentDigest: digestOf(uid) },
    { approvedBy: newUid(), approvedAt: Date.now() },
  ),
});

class MemoryVault implements RotationSecrets {
  records = new Map<string, SecretRecord>();
  files = new Map<string, Uint8Array>();

  add(data: RecordData, extra: Partial<SecretRecord> = {}): string {
    const uid = newUid();
    this.records.set(uid, { uid, type: data.type, folderUid: 'f', revision: 1, data, pending: null, files: [], links: [], ...extra });
    return uid;
  }
  async getSecrets(uids?: string[]): Promise<SecretRecord[]> {
    const list = uids ? uids.map((u) => this.records.get(u)) : [...this.records.values()];
    if (list.some((r) => !r)) throw new PosternError('not_allowed', 'not shared');
    return structuredClone(list as SecretRecord[]);
  }
  async updateSecret(uid: string, change: (d: RecordData) => RecordData) {
    const r = this.records.get(uid)!;
    if (r.pending) throw new PosternError('bad_state', 'A rotation is already pending.');
    r.pending = { data: change(structuredClone(r.data)), baseRevision: r.revision, createdAt: Date.now() };
    return { revision: r.revision, pending: true };
  }
  async finalizeSecretUpdate(uid: string, { rollback }: { rollback: boolean }) {
    const r = this.records.get(uid)!;
    if (!r.pending) throw new PosternError('bad_state', 'Nothing pending.');
    if (!rollback) {
      r.data = r.pending.data;
      r.revision++;
    }
    r.pending = null;
    return {};
  }
  password(uid: string): string {
    return (this.records.get(uid)!.data.fields as { password: string }).password;
  }
}

/** A target holding one password; `behaviour` decides how a change goes. */
function fakeTarget(initial: string, behaviour: 'ok' | 'refuse' | 'ignore' | 'unreachable-after-change' = 'ok') {
  const state = { password: initial, changes: 0, verifies: 0, down: false };
  const plugin: RotationPlugin = {
    name: 'fake',
    async change(_t, next) {
      state.changes++;
      if (behaviour === 'refuse') throw new RotationFailure('policy_refused', 'password too weak for the fake target');
      if (behaviour === 'ignore') return;
      state.password = (next as { password: string }).password;
      if (behaviour === 'unreachable-after-change') state.down = true;
    },
    async verify(_t, c: Credential) {
      state.verifies++;
      if (state.down) throw new RotationFailure('unreachable', 'fake target down');
      return c.kind === 'password' && c.password === state.password;
    },
  };
  return { state, plugin };
}

function setup(options: { custom?: { label: string; value: string }[]; pending?: string } = {}) {
  const vault = new MemoryVault();
  const userUid = vault.add(newRecordData('pamUser', 'app user', { login: 'app', password: OLD }, options.custom ?? []));
  const resourceUid = vault.add(newRecordData('pamDatabase', 'db', { hostname: '127.0.0.1', port: 5432, databaseType: 'postgresql' }), {
    links: [{ childUid: userUid, kind: 'pamUser' }],
  });
  const configUid = vault.add(
    newRecordData('pamConfiguration', 'cfg', { environment: 'local', gatewayUid, applicationFolderUid: newUid(), features: { rotation: true } }),
  );
  if (options.pending) {
    const r = vault.records.get(userUid)!;
    r.pending = { data: { ...r.data, fields: { ...r.data.fields, password: options.pending } } as RecordData, baseRevision: 1, createdAt: Date.now() };
  }
  const updates: JobUpdate[] = [];
  const logged: string[] = [];
  const scrubber = new SecretScrubber();
  const log = (obj: Record<string, unknown>, msg?: string) => logged.push(scrubber.scrub(JSON.stringify({ ...obj, msg })));
  const logger = { info: log, warn: log, debug: log, error: log };
  const tasks = new JobTracker({ sink: { sendJob: (u) => (updates.push(u), true) }, scrubber, logger });
  const task = tasks.start(newUid(), 'rotate', userUid);
  // Job updates are sealed and reported asynchronously: a run is over once all of them reached `updates`.
  const settledAfter = async <T>(running: Promise<T>): Promise<T> => {
    try {
      return await running;
    } finally {
      await tasks.settled();
    }
  };
  const run = (plugin: RotationPlugin, extra: { resumeOnly?: boolean } = {}) =>
    settledAfter(
      runRotation(
        task,
        { recordUid: userUid, configurationUid: configUid, resourceUid, adminCredentialUid: null, ...extra },
        {
          secrets: vault,
          scrubber,
          gatewayUid: () => gatewayUid,
          pluginFor: () => plugin,
          scripts: postRotationScripts({
            download: async (uid) => ({ name: uid, bytes: vault.files.get(uid)!, contentDigest: digestOf(uid) }),
            routerSigningKey: async () => routerSigning.publicKey,
            scrubber,
            logger,
          }),
        },
      ),
    );
  const everything = () => JSON.stringify(updates) + logged.join('\n');
  return { vault, userUid, resourceUid, configUid, updates, logged, scrubber, task, run, everything };
}

describe('rotation engine', () => {
  it('stores pending, changes, verifies, finalizes: vault and target agree, old secret gone', async () => {
    const s = setup();
    const target = fakeTarget(OLD);
    const outcome = await s.run(target.plugin);
    const now = s.vault.password(s.userUid);
    expect(now).not.toBe(OLD);
    expect(target.state.password).toBe(now);
    expect(s.vault.records.get(s.userUid)!.pending).toBeNull();
    expect(outcome.message).toBe('Rotated the password of "app" and verified it on the target.');
    expect(s.updates.map((u) => u.step).filter(Boolean)).toEqual([
      'started',
      'fetching records',
      'storing the new secret as pending',
      'changing it on the target (fake)',
      'verifying the new secret',
      'finalizing',
    ]);
    expect(s.everything()).not.toContain(OLD);
    expect(s.everything()).not.toContain(now);
  });

  it('rolls back when the target refuses the new secret, keeping the old one valid', async () => {
    const s = setup();
    const target = fakeTarget(OLD, 'refuse');
    await expect(s.run(target.plugin)).rejects.toMatchObject({ reason: 'policy_refused' });
    expect(s.vault.password(s.userUid)).toBe(OLD);
    expect(s.vault.records.get(s.userUid)!.pending).toBeNull();
    expect(target.state.password).toBe(OLD);
  });

  it('rolls back when the change claimed success but the target still takes only the old secret', async () => {
    const s = setup();
    const target = fakeTarget(OLD, 'ignore');
    await expect(s.run(target.plugin)).rejects.toThrow(/did not accept the new secret.*old secret was kept/);
    expect(s.vault.password(s.userUid)).toBe(OLD);
    expect(s.vault.records.get(s.userUid)!.pending).toBeNull();
  });

  it('keeps the rotation pending when the target goes away between change and verify', async () => {
    const s = setup();
    const target = fakeTarget(OLD, 'unreachable-after-change');
    await expect(s.run(target.plugin)).rejects.toThrow(/stays pending.*rotation resume/);
    const r = s.vault.records.get(s.userUid)!;
    expect(r.pending).not.toBeNull();
    // Neither secret was lost: the old in the record, the new (which the target holds) pending.
    expect((r.pending!.data.fields as { password: string }).password).toBe(target.state.password);
    expect(r.data.fields).toMatchObject({ password: OLD });
  });

  it('settles a pending rotation the target took (finalize), then rotates afresh with a new secret', async () => {
    const s = setup({ pending: 'Pending-Secret-2!' });
    const target = fakeTarget('Pending-Secret-2!');
    const outcome = await s.run(target.plugin);
    expect(outcome.message).toMatch(/^An unfinished rotation had changed the target; it was finalized\. Rotated/);
    const now = s.vault.password(s.userUid);
    expect([OLD, 'Pending-Secret-2!']).not.toContain(now);
    expect(target.state.password).toBe(now);
  });

  it('settles a pending rotation the target never got (roll back), then rotates afresh', async () => {
    const s = setup({ pending: 'Pending-Secret-3!' });
    const target = fakeTarget(OLD);
    const outcome = await s.run(target.plugin);
    expect(outcome.message).toMatch(/^An unfinished rotation had not changed the target; it was rolled back\./);
    expect(target.state.password).toBe(s.vault.password(s.userUid));
    expect(s.vault.password(s.userUid)).not.toBe('Pending-Secret-3!');
  });

  it('stops, keeping both secrets, when the target accepts neither', async () => {
    const s = setup({ pending: 'Pending-Secret-4!' });
    const target = fakeTarget('Something-Else-5!');
    await expect(s.run(target.plugin)).rejects.toThrow(/accepts neither the pending nor the current secret/);
    const r = s.vault.records.get(s.userUid)!;
    expect(r.data.fields).toMatchObject({ password: OLD });
    expect(r.pending?.data.fields).toMatchObject({ password: 'Pending-Secret-4!' });
    expect(target.state.changes).toBe(0);
  });

  it('resume settles and stops; with nothing pending it says so', async () => {
    const s = setup({ pending: 'Pending-Secret-6!' });
    const target = fakeTarget('Pending-Secret-6!');
    expect((await s.run(target.plugin, { resumeOnly: true })).message).toBe('An unfinished rotation had changed the target; it was finalized.');
    expect(s.vault.password(s.userUid)).toBe('Pending-Secret-6!');
    expect(target.state.changes).toBe(0);
    expect((await s.run(target.plugin, { resumeOnly: true })).message).toMatch(/^Nothing to resume/);
  });

  it('NOOP skips the target and still runs post-rotation scripts with the new secret on stdin', async () => {
    const s = setup({
      custom: [
        { label: 'NOOP', value: 'true' },
        { label: 'kerberos', value: 'TRUE' },
      ],
    });
    const scriptUid = newUid();
    // Prints what it was given, so the test sees it arrive, and the scrubber must hide it.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${HISTFILE} is the shell's, not a template
    s.vault.files.set(scriptUid, new TextEncoder().encode('#!/bin/sh\nread line\necho "$line" | base64 -d\necho\necho "history: ${HISTFILE}"\n'));
    s.vault.records.get(s.userUid)!.files.push(await approvedScript(scriptUid, s.userUid, 'notify.sh', 'text/x-shellscript'));
    const target = fakeTarget(OLD);
    const outcome = await s.run(target.plugin);
    expect(target.state.changes + target.state.verifies).toBe(0);
    expect(outcome.message).toBe('NOOP rotation done (target not changed). Post-rotation scripts: 1 of 1 succeeded.');
    const now = s.vault.password(s.userUid);
    expect(now).not.toBe(OLD);
    const lines = s.updates.flatMap((u) => u.log ?? []);
    const printed = lines.find((l) => l.startsWith('[notify.sh] {'));
    expect(printed).toBeDefined();
    const json = JSON.parse(printed!.slice('[notify.sh] '.length)) as Record<string, string>;
    expect(json).toMatchObject({ userUid: s.userUid, username: 'app', oldPassword: '[REDACTED]', newPassword: '[REDACTED]', configurationUid: s.configUid });
    expect(lines).toContain('[notify.sh] history: /dev/null');
    expect(lines).toContain('Custom fields: NOOP: target not changed, scripts only; Kerberos: on (applies to Windows targets; not used by this rotation)');
    expect(s.everything()).not.toContain(now);
    expect(s.everything()).not.toContain(OLD);
  });

  it('reports a failing script without undoing the rotation', async () => {
    const s = setup();
    const scriptUid = newUid();
    s.vault.files.set(scriptUid, new TextEncoder().encode(`echo "cannot reach the app, tried ${'$'}(head -c 3 /dev/null)" >&2\nexit 3\n`));
    s.vault.records.get(s.resourceUid)!.files.push(await approvedScript(scriptUid, s.resourceUid, 'push.sh', 'text/plain'));
    const target = fakeTarget(OLD);
    const outcome = await s.run(target.plugin);
    expect(outcome.message).toMatch(/Post-rotation scripts: 0 of 1 succeeded; "push\.sh" exited with code 3 \(the rotation itself is complete\)\.$/);
    expect(target.state.password).toBe(s.vault.password(s.userUid));
    expect(s.updates.flatMap((u) => u.log ?? [])).toContain('[push.sh] cannot reach the app, tried ');
  });

  // threat model (docs/threat-model.md): gateway — every secret a record holds is scrubbed, not a hand-picked list
  it('scrubs secrets at any depth: a one-time code, pamSettings.connection.password, a custom "Private Key"', async () => {
    const otp = 'Canary-OTP-918273';
    const customKey = 'Canary-Custom-Private-Key-4455';
    const nested = 'Canary-Nested-Connection-Pw-77';
    const s = setup({
      custom: [
        { label: 'Private Key', value: customKey },
        { label: 'One-Time Code', value: otp },
      ],
    });
    const resource = s.vault.records.get(s.resourceUid)!;
    resource.data = { ...resource.data, fields: { ...resource.data.fields, pamSettings: { connection: { password: nested } } } } as RecordData;
    const leaky: RotationPlugin = {
      name: 'leaky',
      async change(target) {
        target.log(`the target echoed ${otp} ${customKey} ${nested}`);
        throw new RotationFailure('failed', `refused: ${otp} / ${customKey} / ${nested}`);
      },
      async verify(_t, c) {
        return c.kind === 'password' && c.password === OLD;
      },
    };
    await expect(s.run(leaky)).rejects.toBeInstanceOf(RotationFailure);
    const seen = s.everything() + s.scrubber.scrub(`refused: ${otp} / ${customKey} / ${nested}`);
    for (const canary of [otp, customKey, nested]) expect(seen).not.toContain(canary);
  });
});
