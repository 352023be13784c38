/**
 * The vault endpoint against bad input: every malformed, oversized, unauthenticated or
 * expired call gets a typed error, the Router keeps serving, and nothing stored changes.
 * Runs on SQLite and, when POSTERN_TEST_DATABASE is set, on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Url, randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { sealRequest, toWireEnvelope } from '../../core/protocol/envelope.ts';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../../test/support/router.ts';

describe.each(storageBackends())('vault endpoint: bad input (%s)', (backend) => {
  let router: TestRouter;
  let transport: VaultTransport;
  let alice: VaultClient;

  beforeAll(async () => {
    router = await startTestRouter({ backend, limits: { maxBodyBytes: 64 * 1024, loginFailuresPerWindow: 3 } });
    transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'alice@example.com', 'alice master password');
    alice = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
  });
  afterAll(async () => router?.stop());

  const post = (path: string, body: BodyInit, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${router.url}${path}`, { method: 'POST', body, headers });

  async function expectError(response: Response, status: number, code: string) {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
  }

  /** Seal an arbitrary inner payload, as a hostile or buggy client could. */
  function sealed(command: string, inner: unknown) {
    return JSON.stringify(toWireEnvelope(sealRequest(transport.routerPublicKey, `vault/${command}`, inner)));
  }

  it('answers malformed JSON with bad_request', async () => {
    await expectError(await post('/api/v1/vault/account.whoami', '{"v":1,'), 400, 'bad_request');
    await expectError(await post('/api/v1/vault/account.whoami', '\xff\xfe'), 400, 'bad_request');
    await expectError(await post('/api/v1/vault/account.whoami', '[]'), 400, 'bad_request');
    await expectError(await post('/api/v1/vault/account.whoami', JSON.stringify({ v: 2, key: '', payload: '' })), 400, 'bad_request');
    await expectError(await post('/api/v1/vault/account.whoami', JSON.stringify({ v: 1, key: 'not base64!', payload: 'x' })), 400, 'bad_request');
  });

  it('answers an envelope it cannot open with decrypt_failed', async () => {
    const good = JSON.parse(sealed('account.whoami', { session: alice.session.sessionToken, body: {} })) as { v: number; key: string; payload: string };
    const payload = fromBase64Url(good.payload);
    payload[payload.length - 1]! ^= 1;
    await expectError(await post('/api/v1/vault/account.whoami', JSON.stringify({ ...good, payload: toBase64Url(payload) })), 400, 'decrypt_failed');
    // A payload sealed for one command is refused by another (AAD binds the route).
    await expectError(await post('/api/v1/vault/account.logout', JSON.stringify(good)), 400, 'decrypt_failed');
    await expectError(await post('/api/v1/vault/account.whoami', JSON.stringify({ ...good, key: toBase64Url(randomBytes(120)) })), 400, 'decrypt_failed');
  });

  it('refuses bodies over the limit with payload_too_large, even without Content-Length', async () => {
    const big = 'x'.repeat(70 * 1024);
    await expectError(await post('/api/v1/vault/account.whoami', big), 413, 'payload_too_large');
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('y'.repeat(8192)));
        controller.close();
      },
    });
    const response = await fetch(`${router.url}/api/v1/vault/account.whoami`, { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    await expectError(response, 413, 'payload_too_large');
  });

  it('validates field types and names the field', async () => {
    const response = await post('/api/v1/vault/record.add', sealed('record.add', { session: alice.session.sessionToken, body: { recordUid: 42, type: 'login', recordKey: 'a', data: 'b' } }));
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('bad_request');
    expect(error.message).toContain('recordUid');
    await expectError(await post('/api/v1/vault/account.whoami', sealed('account.whoami', 'not an object')), 400, 'bad_request');
  });

  it('refuses unknown record types with unknown_record_type', async () => {
    const err = await transport
      .call('record.add', { recordUid: toBase64Url(randomBytes(16)), type: 'pamToaster', recordKey: 'AA', data: 'AA' }, alice.session.sessionToken)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unknown_record_type' });
  });

  it('answers unknown commands and routes with not_found', async () => {
    await expectError(await post('/api/v1/vault/record.explode', '{}'), 404, 'not_found');
    const r = await fetch(`${router.url}/api/v2/nothing`);
    expect(r.status).toBe(404);
  });

  it('refuses missing, forged and expired sessions', async () => {
    await expect(transport.call('vault.sync', {})).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(transport.call('vault.sync', {}, toBase64Url(randomBytes(32)))).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(transport.call('vault.sync', {}, 'x'.repeat(500))).rejects.toMatchObject({ code: 'unauthorized' });
    const other = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
    await router.db.updateTable('sessions').set({ expires_at: Date.now() - 1 }).where('user_uid', '=', other.session.userUid).where('token_hash', '!=', '').execute();
    await expect(other.whoami()).rejects.toMatchObject({ code: 'session_expired' });
    await expect(alice.whoami()).rejects.toMatchObject({ code: 'session_expired' });
    alice = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
  });

  it('logout ends the session', async () => {
    const s = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
    await s.logout();
    await expect(s.whoami()).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(VaultClient.resume(transport, s.session)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('rate-limits failed logins and audits them', async () => {
    await registerAccount(transport, 'mallory-target@example.com', 'target master password');
    for (let i = 0; i < 3; i++) {
      await expect(VaultClient.login(transport, 'mallory-target@example.com', `wrong guess ${i}`)).rejects.toMatchObject({ code: 'unauthorized' });
    }
    const throttled = await VaultClient.login(transport, 'mallory-target@example.com', 'target master password').catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(PosternError);
    expect((throttled as PosternError).code).toBe('throttled');
    expect((throttled as PosternError).details?.['retryAfterSeconds']).toBeGreaterThan(0);
    const events = await router.db.selectFrom('events').selectAll().where('actor', '=', 'mallory-target@example.com').where('action', '=', 'account.login').execute();
    expect(events.filter((e) => e.outcome === 'failed')).toHaveLength(3);
    expect(events.filter((e) => e.outcome === 'denied')).toHaveLength(1);
  });

  it('does not reveal whether an account exists at prelogin', async () => {
    const known = await transport.call('account.prelogin', { email: 'alice@example.com' });
    const unknown1 = await transport.call('account.prelogin', { email: 'nobody@example.com' });
    const unknown2 = await transport.call('account.prelogin', { email: 'nobody@example.com' });
    expect(unknown1).toEqual(unknown2);
    expect(Object.keys(unknown1.kdf).sort()).toEqual(Object.keys(known.kdf).sort());
  });

  it('refuses a second registration of the same email', async () => {
    await expect(registerAccount(transport, 'ALICE@example.com', 'whatever long password')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('keeps serving after all of the above, with data intact', async () => {
    const uid = await alice.addRecord(newRecordData('login', 'still here', { login: 'a', password: 'b' }));
    expect((await alice.getRecord(uid)).data.title).toBe('still here');
    const health = await fetch(`${router.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
