/**
 * The secrets API for devices: what a device may see, and every refusal of a request that is
 * unsigned, wrongly signed, replayed, expired, IP-locked, revoked or malformed. Runs on SQLite
 * and, when POSTERN_TEST_DATABASE is set, on PostgreSQL (the replay check's device_nonces table
 * included).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ecdsaSign, fromBase64Url, generateP256KeyPair, randomBytes, sha256, toBase64Url, deviceClientId } from '../../core/crypto/index.ts';
import { SECRETS_HEADERS, signedBytes } from '../../core/protocol/secrets-api.ts';
import { newRecordData } from '../../core/records/index.ts';
import { parseOneTimeToken, SecretsClient, type SecretsConfig } from '../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport, type FetchLike } from '../../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../../test/support/router.ts';
import { TransmissionKeyCache } from '../http/transmission-keys.ts';

// The Router runs in this process: watch its memo of transmission keys (router/http/transmission-keys.ts).
const unwraps = vi.spyOn(TransmissionKeyCache.prototype, 'unwrap');
const remembers = vi.spyOn(TransmissionKeyCache.prototype, 'remember');
afterAll(() => vi.restoreAllMocks());

/**
 * Each time the Router looked `wrap` (base64url) up, from call `since` on: true when the memo
 * answered, false when it ran the ECDH, 'refused' when unwrapping failed.
 */
async function lookupsOf(wrap: string, since = 0): Promise<(boolean | 'refused')[]> {
  const out: (boolean | 'refused')[] = [];
  for (let i = since; i < unwraps.mock.calls.length; i++) {
    if (toBase64Url(unwraps.mock.calls[i]![1]) !== wrap) continue;
    out.push(
      await (unwraps.mock.results[i]!.value as ReturnType<TransmissionKeyCache['unwrap']>).then(
        (r) => r.remembered,
        () => 'refused' as const,
      ),
    );
  }
  return out;
}
const rememberedWraps = (since = 0) => remembers.mock.calls.slice(since).map(([wrap]) => toBase64Url(wrap));

/** A fetch that claims to come from `ip` (the test Router trusts X-Forwarded-For). */
const fromIp =
  (ip: string): FetchLike =>
  (input, init) =>
    fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), 'x-forwarded-for': ip } });

describe.each(storageBackends())('secrets API for devices (%s)', (backend) => {
  let router: TestRouter;
  let owner: VaultClient;
  let appA: string;
  let appB: string;
  let folderA: string;
  let folderB: string;
  let recordA: string;
  let recordB: string;

  async function device(app: string, options: { unlockIp?: boolean; ip?: string } = {}): Promise<SecretsClient> {
    const [issued] = await owner.addApplicationClients(app, { unlockIp: options.unlockIp ?? true });
    const config = await SecretsClient.redeemToken(issued!.token, { fetch: fromIp(options.ip ?? '127.0.0.2') });
    return new SecretsClient(config, fromIp(options.ip ?? '127.0.0.2'));
  }

  beforeAll(async () => {
    router = await startTestRouter({ backend, trustProxy: true, limits: { maxBodyBytes: 64 * 1024 } });
    const transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'owner@example.com', 'owner master password');
    owner = await VaultClient.login(transport, 'owner@example.com', 'owner master password');
    folderA = await owner.addFolder('A', { shared: true });
    folderB = await owner.addFolder('B', { shared: true });
    recordA = await owner.addRecord(newRecordData('pamUser', 'a', { login: 'a', password: 'pw-a' }), { folderUid: folderA });
    recordB = await owner.addRecord(newRecordData('pamUser', 'b', { login: 'b', password: 'pw-b' }), { folderUid: folderB });
    await owner.addRecord(newRecordData('login', 'private', { login: 'p', password: 'pw-p' }));
    appA = await owner.createApplication('app A');
    appB = await owner.createApplication('app B');
    await owner.shareFolderToApplication(appA, folderA, true);
    await owner.shareFolderToApplication(appB, folderB, false);
  });
  afterAll(async () => router?.stop());

  it('gives a device only what its application was given', async () => {
    const a = await device(appA);
    expect((await a.getSecrets()).map((r) => r.uid)).toEqual([recordA]);
    expect((await a.getFolders()).map((f) => f.name)).toEqual(['A']);
    await expect(a.getSecrets([recordB])).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(a.updateSecret(recordB, (d) => d)).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(a.call('download_file', { fileUid: toBase64Url(randomBytes(16)) })).rejects.toMatchObject({ code: 'not_allowed' });
    const del = await a.deleteSecrets([recordB]);
    expect(del.results).toEqual([{ recordUid: recordB, status: 'not_allowed' }]);
    const b = await device(appB);
    expect((await b.getSecrets()).map((r) => r.data.fields['password'])).toEqual(['pw-b']);
  });

  it('answers get_secret alike whether it reads the asked-for records one by one or the whole app (over 16)', async () => {
    const appC = await owner.createApplication('app C');
    const folder = await owner.addFolder('many', { shared: true });
    await owner.shareFolderToApplication(appC, folder, true);
    const a = await device(appC);
    const uids: string[] = [];
    for (let n = 0; n < 20; n++)
      uids.push(await owner.addRecord(newRecordData('login', `r${n}`, { login: `l${n}`, password: `p${n}` }), { folderUid: folder }));
    await a.addFile(uids[3]!, { name: 'f.txt', bytes: new Uint8Array([1, 2, 3]) });
    await a.updateSecret(uids[5]!, (d) => ({ ...d, fields: { ...d.fields, password: 'next' } }), { transaction: 'rotation' });
    type Raw = { records: Array<{ recordUid: string; files: unknown[]; pending: unknown }> };
    const byUid = (raw: Raw) => new Map(raw.records.map((r) => [r.recordUid, r]));
    const whole = byUid((await a.call('get_secret', {})) as Raw);
    const few = (await a.call('get_secret', { recordUids: [uids[5]!, uids[3]!, uids[5]!] })) as Raw;
    const many = (await a.call('get_secret', { recordUids: uids.slice(0, 18) })) as Raw;
    // oldest first either way, duplicates once, and each record as the whole-app answer has it
    expect(few.records.map((r) => r.recordUid)).toEqual([uids[3], uids[5]]);
    expect(many.records.map((r) => r.recordUid)).toEqual(uids.slice(0, 18));
    for (const r of [...few.records, ...many.records]) expect(r).toEqual(whole.get(r.recordUid));
    expect(few.records[0]!.files).toHaveLength(1);
    expect(few.records[1]!.pending).not.toBeNull();
    // a record outside the app is refused on both paths, by name
    for (const asked of [
      [uids[0]!, recordB],
      [...uids.slice(0, 17), recordB],
    ]) {
      await expect(a.call('get_secret', { recordUids: asked })).rejects.toMatchObject({ code: 'not_allowed', details: { recordUid: recordB } });
    }
    await a.finalizeSecretUpdate(uids[5]!, { rollback: true });
  });

  it('keeps a read-only application read-only', async () => {
    const b = await device(appB);
    await expect(b.updateSecret(recordB, (d) => ({ ...d, title: 'changed' }))).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(b.createSecret(folderB, newRecordData('login', 'new', { login: 'x' }))).rejects.toMatchObject({ code: 'not_allowed' });
    await expect(b.addFile(recordB, { name: 'f.txt', bytes: new Uint8Array([1]) })).rejects.toMatchObject({ code: 'not_allowed' });
    expect((await owner.getRecord(recordB)).data.title).toBe('b');
  });

  it('creates, updates, attaches and deletes with an editing application', async () => {
    const a = await device(appA);
    const created = await a.createSecret(folderA, newRecordData('login', 'made by device', { login: 'svc', password: 'pw-svc' }));
    expect((await owner.getRecord(created)).data.fields['password']).toBe('pw-svc');
    const updated = await a.updateSecret(created, (d) => ({ ...d, fields: { ...d.fields, password: 'pw-svc-2' } }));
    expect(updated).toMatchObject({ revision: 2, pending: false });
    const fileUid = await a.addFile(created, { name: 'note.txt', mime: 'text/plain', bytes: new TextEncoder().encode('hello') });
    const file = await a.downloadFile(fileUid);
    expect(new TextDecoder().decode(file.bytes)).toBe('hello');
    expect(file.kind).toBe('attachment');
    expect((await owner.downloadFile(fileUid)).name).toBe('note.txt');
    expect((await a.deleteSecrets([created])).results[0]!.status).toBe('deleted');
    await expect(owner.getRecord(created)).rejects.toMatchObject({ code: 'not_allowed' });
  });

  it('keeps a rotation pending until finalize or rollback', async () => {
    const a = await device(appA);
    const before = await a.getSecret(recordA);
    await a.updateSecret(recordA, (d) => ({ ...d, fields: { ...d.fields, password: 'pw-a-next' } }), { transaction: 'rotation' });
    expect((await owner.getRecord(recordA)).data.fields['password']).toBe('pw-a');
    await expect(a.updateSecret(recordA, (d) => d)).rejects.toMatchObject({ code: 'bad_state' });
    await expect(owner.updateRecord(recordA, (d) => ({ ...d, title: 'edited' }))).rejects.toMatchObject({ code: 'bad_state' });
    await expect(a.updateSecret(recordA, (d) => d, { transaction: 'rotation' })).rejects.toMatchObject({ code: 'bad_state' });
    const rolled = await a.finalizeSecretUpdate(recordA, { rollback: true });
    expect(rolled).toEqual({ revision: before.revision, rolledBack: true });
    expect((await a.getSecret(recordA)).pending).toBeNull();
    await expect(a.finalizeSecretUpdate(recordA, { rollback: false })).rejects.toMatchObject({ code: 'bad_state' });
    await a.updateSecret(recordA, (d) => ({ ...d, fields: { ...d.fields, password: 'pw-a-2' } }), { transaction: 'rotation' });
    expect(await a.finalizeSecretUpdate(recordA, { rollback: false })).toEqual({ revision: before.revision + 1, rolledBack: false });
    expect((await owner.getRecord(recordA)).data.fields['password']).toBe('pw-a-2');
    const stale = await a.prepare('update_secret', { recordUid: recordA, revision: before.revision, data: 'AAAA', transactionType: 'rotation' });
    await expect(a.send(stale)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('refuses unsigned requests', async () => {
    const a = await device(appA);
    const prepared = await a.prepare('get_folders', {});
    for (const header of Object.values(SECRETS_HEADERS)) {
      const headers = { ...prepared.headers };
      delete headers[header];
      const response = await fetch(prepared.url, { method: 'POST', headers, body: prepared.body as Uint8Array<ArrayBuffer> });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
  });

  it('refuses a wrong key, a tampered body and an unknown client', async () => {
    const a = await device(appA);
    await expect(a.send(await a.prepare('get_folders', {}, { signingKey: generateP256KeyPair().privateKey }))).rejects.toMatchObject({ code: 'bad_signature' });
    const prepared = await a.prepare('get_folders', {});
    const body = prepared.body.slice();
    body[body.length - 1]! ^= 1;
    await expect(a.send({ ...prepared, body })).rejects.toMatchObject({ code: 'bad_signature' });
    const stranger = new SecretsClient({ ...a.config, clientId: toBase64Url(randomBytes(64)) }, fromIp('127.0.0.2'));
    await expect(stranger.getFolders()).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('refuses a replayed request and processes it once', async () => {
    const a = await device(appA);
    const prepared = await a.prepare('create_secret', {
      folderUid: folderA,
      recordUid: toBase64Url(randomBytes(16)),
      type: 'login',
      recordKey: 'AAAA',
      data: 'AAAA',
    });
    await a.send(prepared);
    await expect(a.send(prepared)).rejects.toMatchObject({ code: 'replayed' });
    const sameNonce = await a.prepare('get_folders', {}, { nonce: 'fixed-nonce-0123456789' });
    await a.send(sameNonce);
    await expect(a.send(await a.prepare('get_folders', {}, { nonce: 'fixed-nonce-0123456789' }))).rejects.toMatchObject({ code: 'replayed' });
    // The nonces are kept in the database (device_nonces), on this backend, with an expiry.
    const nonces = await router.db.selectFrom('device_nonces').selectAll().where('device_uid', '=', a.config.deviceUid).execute();
    expect(nonces.map((n) => n.nonce)).toContain('fixed-nonce-0123456789');
    for (const n of nonces) expect(Number(n.expires_at)).toBeGreaterThan(Date.now());
    // Another device may use the same nonce: they are per device.
    const other = await device(appA);
    await other.send(await other.prepare('get_folders', {}, { nonce: 'fixed-nonce-0123456789' }));
  });

  it('processes a request replayed concurrently exactly once', async () => {
    const a = await device(appA);
    const recordUid = toBase64Url(randomBytes(16));
    const prepared = await a.prepare('create_secret', { folderUid: folderA, recordUid, type: 'login', recordKey: 'AAAA', data: 'AAAA' });
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () =>
        a.send(prepared).then(
          () => 'ok',
          (e: { code?: string }) => e.code,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(5);
    const rows = await router.db.selectFrom('records').select('uid').where('uid', '=', recordUid).execute();
    expect(rows).toHaveLength(1);
    // The Router keeps serving this device after the race.
    expect((await a.getFolders()).length).toBe(1);
  });

  it('refuses expired and future timestamps', async () => {
    const a = await device(appA);
    await expect(a.send(await a.prepare('get_folders', {}, { timestamp: Date.now() - 10 * 60_000 }))).rejects.toMatchObject({ code: 'request_expired' });
    await expect(a.send(await a.prepare('get_folders', {}, { timestamp: Date.now() + 10 * 60_000 }))).rejects.toMatchObject({ code: 'request_expired' });
  });

  it('locks a device to the first address that uses it, unless --unlock-ip', async () => {
    const locked = await device(appA, { unlockIp: false, ip: '127.0.0.3' });
    await locked.getFolders();
    const elsewhere = new SecretsClient(locked.config, fromIp('127.0.0.4'));
    await expect(elsewhere.getFolders()).rejects.toMatchObject({ code: 'ip_locked' });
    await locked.getFolders();
    const free = await device(appA, { unlockIp: true, ip: '127.0.0.3' });
    await free.getFolders();
    await new SecretsClient(free.config, fromIp('127.0.0.4')).getFolders();
  });

  it('refuses revoked devices, expired tokens and expired access', async () => {
    const a = await device(appA);
    await owner.removeApplicationClient(appA, a.config.deviceUid);
    await expect(a.getFolders()).rejects.toMatchObject({ code: 'revoked' });

    const [late] = await owner.addApplicationClients(appA, { firstAccessExpiresInMinutes: 1 });
    await router.db
      .updateTable('devices')
      .set({ first_access_expires_at: Date.now() - 1 })
      .where('uid', '=', late!.deviceUid)
      .execute();
    await expect(SecretsClient.redeemToken(late!.token)).rejects.toMatchObject({ code: 'token_expired' });

    const [short] = await owner.addApplicationClients(appA, { accessExpiresInMinutes: 5 });
    const config: SecretsConfig = await SecretsClient.redeemToken(short!.token);
    await new SecretsClient(config).getFolders();
    await router.db
      .updateTable('devices')
      .set({ access_expires_at: Date.now() - 1 })
      .where('uid', '=', short!.deviceUid)
      .execute();
    await expect(new SecretsClient(config).getFolders()).rejects.toMatchObject({ code: 'access_expired' });
  });

  it('redeems a one-time token once only', async () => {
    const [issued] = await owner.addApplicationClients(appA, {});
    await SecretsClient.redeemToken(issued!.token);
    await expect(SecretsClient.redeemToken(issued!.token)).rejects.toMatchObject({ code: 'bad_state' });
    // The Router stores a hash of the client id, never the token or the id itself.
    const { secret } = parseOneTimeToken(issued!.token);
    const row = await router.db.selectFrom('devices').selectAll().where('uid', '=', issued!.deviceUid).executeTakeFirstOrThrow();
    expect(row.client_id_hash).toBe(toBase64Url(sha256(deviceClientId(secret))));
    expect(JSON.stringify(row)).not.toContain(toBase64Url(secret));
  });

  it('answers malformed frames with typed errors and keeps serving', async () => {
    const a = await device(appA);
    const garbage = await a.prepare('get_folders', {});
    const send = (body: Uint8Array, headers = garbage.headers) => fetch(garbage.url, { method: 'POST', headers, body: body as Uint8Array<ArrayBuffer> });
    const codeOf = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;
    expect(await codeOf(await send(new Uint8Array(100 * 1024)))).toBe('payload_too_large');
    expect(await codeOf(await send(randomBytes(10)))).toBe('bad_signature');
    const unknownOp = await fetch(garbage.url.replace('get_folders', 'drop_tables'), {
      method: 'POST',
      headers: garbage.headers,
      body: garbage.body as Uint8Array<ArrayBuffer>,
    });
    expect(await codeOf(unknownOp)).toBe('not_found');
    // A well-signed frame with the wrong shape: no nonce, and a body of the wrong type.
    await expect(a.send(await a.prepare('get_secret', { recordUids: 'all' } as never))).rejects.toMatchObject({ code: 'bad_request' });
    expect((await a.getFolders()).length).toBe(1);
  });

  // threat model (docs/threat-model.md): device — another device of the same application
  it('does not let another device use a transmission key the Router remembered for device A', async () => {
    const a = await device(appA);
    const b = await device(appA);
    await a.getFolders();
    const aRequest = await a.prepare('get_folders', {});
    const aWrap = aRequest.headers[SECRETS_HEADERS.transmissionKey]!;
    expect(rememberedWraps()).toContain(aWrap);

    // B copies A's wrap into its own, correctly signed, request: the Router takes A's key from the
    // memo, and B's payload (sealed under B's key) does not open under it.
    const since = unwraps.mock.calls.length;
    const own = await b.prepare('get_folders', {});
    const bKey = fromBase64Url(b.config.privateKey);
    const forged = async (body: Uint8Array) => ({
      ...own,
      body,
      headers: {
        ...own.headers,
        [SECRETS_HEADERS.transmissionKey]: aWrap,
        [SECRETS_HEADERS.signature]: toBase64Url(await ecdsaSign(bKey, signedBytes('get_folders', fromBase64Url(aWrap), body))),
      },
    });
    await expect(b.send(await forged(own.body))).rejects.toMatchObject({ code: 'decrypt_failed' });
    expect(await lookupsOf(aWrap, since)).toEqual([true]);
    // With A's own payload, captured, whatever the Router answers is sealed under A's key: B cannot read it.
    await expect(b.send(await forged(aRequest.body))).rejects.toMatchObject({ code: 'decrypt_failed' });
    // A is not disturbed.
    expect((await a.send(aRequest)).folders).toHaveLength(1);
  });

  // threat model (docs/threat-model.md): device
  it('never remembers the transmission key of a badly signed request, nor of a registration', async () => {
    const rememberedBefore = remembers.mock.calls.length;
    const c = await device(appA); // redeems a token: the register request is not remembered
    expect(rememberedWraps(rememberedBefore)).toEqual([]);

    const since = unwraps.mock.calls.length;
    const forged = await c.prepare('get_folders', {}, { signingKey: generateP256KeyPair().privateKey });
    const wrap = forged.headers[SECRETS_HEADERS.transmissionKey]!;
    await expect(c.send(forged)).rejects.toMatchObject({ code: 'bad_signature' });
    const tampered = await c.prepare('get_folders', {});
    expect(tampered.headers[SECRETS_HEADERS.transmissionKey]).toBe(wrap);
    const body = tampered.body.slice();
    body[body.length - 1]! ^= 1;
    await expect(c.send({ ...tampered, body })).rejects.toMatchObject({ code: 'bad_signature' });
    expect(rememberedWraps(rememberedBefore)).not.toContain(wrap);

    // The first good request from the same wrap still needs the ECDH; from then on the memo answers.
    await c.getFolders();
    await c.getFolders();
    expect(await lookupsOf(wrap, since)).toEqual([false, true]);
    expect(rememberedWraps(rememberedBefore)).toEqual([wrap]);
  });

  it('writes an audit event for each device call, allowed or refused', async () => {
    const rows = await router.db.selectFrom('events').selectAll().where('actor_kind', '=', 'device').execute();
    const outcomes = new Set(rows.map((r) => `${r.action}:${r.outcome}`));
    expect(outcomes).toContain('secrets.get_secret:ok');
    expect(outcomes).toContain('secrets.get_secret:denied');
    expect(outcomes).toContain('secrets.get_folders:denied');
    expect(outcomes).toContain('secrets.register:ok');
    const codes = rows.filter((r) => r.outcome === 'denied').map((r) => JSON.parse(r.detail ?? '{}').code);
    for (const code of ['bad_signature', 'replayed', 'request_expired', 'ip_locked', 'revoked', 'access_expired', 'token_expired'])
      expect(codes).toContain(code);
  });
});
