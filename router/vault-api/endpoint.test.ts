/**
 * The vault endpoint against bad input: every malformed, oversized, unauthenticated or
 * expired call gets a typed error, the Router keeps serving, and nothing stored changes.
 * Runs on SQLite and, when POSTERN_TEST_DATABASE is set, on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Url, randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { sealRequest, sessionIdOf, toWireEnvelope, VAULT_SESSION_HEADER, vaultRequestFrame } from '../../core/protocol/envelope.ts';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../../test/support/router.ts';

describe.each(storageBackends())('vault endpoint: bad input (%s)', (backend) => {
  let router: TestRouter;
  let transport: VaultTransport;
  let alice: VaultClient;

  beforeAll(async () => {
    router = await startTestRouter({ backend, openRegistration: true, limits: { maxBodyBytes: 64 * 1024, loginFailuresPerWindow: 3 } });
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
  async function sealed(command: string, inner: unknown) {
    return JSON.stringify(toWireEnvelope(await sealRequest(transport.routerPublicKey, `vault/${command}`, inner)));
  }

  /** Headers that name alice's session, so that a request gets past the header check to its body. */
  const asAlice = () => ({ 'content-type': 'application/json', [VAULT_SESSION_HEADER]: sessionIdOf(alice.session.sessionToken) });

  it('answers malformed JSON with bad_request', async () => {
    for (const path of ['/api/v1/vault/account.prelogin', '/api/v1/vault/account.whoami']) {
      await expectError(await post(path, '{"v":1,', asAlice()), 400, 'bad_request');
      await expectError(await post(path, '\xff\xfe', asAlice()), 400, 'bad_request');
      await expectError(await post(path, '[]', asAlice()), 400, 'bad_request');
      await expectError(await post(path, JSON.stringify({ v: 2, key: '', payload: '' }), asAlice()), 400, 'bad_request');
      await expectError(await post(path, JSON.stringify({ v: 1, key: 'not base64!', payload: 'x' }), asAlice()), 400, 'bad_request');
    }
  });

  it('answers an envelope it cannot open with decrypt_failed', async () => {
    const good = JSON.parse(await sealed('account.whoami', vaultRequestFrame({}, alice.session.sessionToken))) as { v: number; key: string; payload: string };
    const payload = fromBase64Url(good.payload);
    payload[payload.length - 1]! ^= 1;
    await expectError(await post('/api/v1/vault/account.whoami', JSON.stringify({ ...good, payload: toBase64Url(payload) }), asAlice()), 400, 'decrypt_failed');
    // A payload sealed for one command is refused by another (AAD binds the route).
    await expectError(await post('/api/v1/vault/account.logout', JSON.stringify(good), asAlice()), 400, 'decrypt_failed');
    await expectError(
      await post('/api/v1/vault/account.whoami', JSON.stringify({ ...good, key: toBase64Url(randomBytes(120)) }), asAlice()),
      400,
      'decrypt_failed',
    );
  });

  it('refuses bodies over the limit with payload_too_large, even without Content-Length', async () => {
    const big = 'x'.repeat(70 * 1024);
    await expectError(await post('/api/v1/vault/account.whoami', big, asAlice()), 413, 'payload_too_large');
    // Without a session the limit is a few KiB: only prelogin, register and login are served.
    await expectError(await post('/api/v1/vault/account.prelogin', 'x'.repeat(9 * 1024)), 413, 'payload_too_large');
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('y'.repeat(8192)));
        controller.close();
      },
    });
    const response = await fetch(`${router.url}/api/v1/vault/account.whoami`, {
      method: 'POST',
      body: stream,
      headers: asAlice(),
      duplex: 'half',
    } as RequestInit);
    await expectError(response, 413, 'payload_too_large');
  });

  it('validates field types and names the field', async () => {
    const response = await post(
      '/api/v1/vault/record.add',
      await sealed('record.add', vaultRequestFrame({ recordUid: 42, type: 'login', recordKey: 'a', data: 'b' }, alice.session.sessionToken)),
      asAlice(),
    );
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('bad_request');
    expect(error.message).toContain('recordUid');
    await expectError(await post('/api/v1/vault/account.whoami', await sealed('account.whoami', 'not an object'), asAlice()), 400, 'bad_request');
  });

  it('refuses a record UID that is 22 characters but not 16 bytes with bad_request', async () => {
    // 'B' as the last character sets bits past the 128th: valid base64url, never a UID.
    for (const recordUid of ['AAAAAAAAAAAAAAAAAAAAAB', 'AAAAAAAAAAAAAAAAAAAA!A', 'AAAAAAAAAAAAAAAAAAAAA']) {
      const response = await post(
        '/api/v1/vault/record.add',
        await sealed('record.add', vaultRequestFrame({ recordUid, type: 'login', recordKey: 'AA', data: 'AA' }, alice.session.sessionToken)),
        asAlice(),
      );
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('bad_request');
      expect(error.message).toContain('recordUid');
    }
    // The same call with a real UID gets past the UID check (and is refused later, for its data).
    const ok = await post(
      '/api/v1/vault/record.add',
      await sealed(
        'record.add',
        vaultRequestFrame({ recordUid: toBase64Url(randomBytes(16)), type: 'login', recordKey: 'AA', data: 'AA' }, alice.session.sessionToken),
      ),
      asAlice(),
    );
    const body = (await ok.json()) as { error?: { message: string } };
    expect(body.error?.message ?? '').not.toContain('recordUid');
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
    await router.db
      .updateTable('sessions')
      .set({ expires_at: Date.now() - 1 })
      .where('user_uid', '=', other.session.userUid)
      .where('token_hash', '!=', '')
      .execute();
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
    const events = await router.db
      .selectFrom('events')
      .selectAll()
      .where('actor', '=', 'mallory-target@example.com')
      .where('action', '=', 'account.login')
      .execute();
    // Identical refusals share one row that counts them (router/audit/events.ts).
    const count = (outcome: string) =>
      events.filter((e) => e.outcome === outcome).reduce((n, e) => n + (JSON.parse(e.detail ?? '{}') as { count: number }).count, 0);
    expect(count('failed')).toBe(3);
    expect(count('denied')).toBe(1);
  });

  it('does not reveal whether an account exists at prelogin', async () => {
    const known = await transport.call('account.prelogin', { email: 'alice@example.com' });
    const unknown1 = await transport.call('account.prelogin', { email: 'nobody@example.com' });
    const unknown2 = await transport.call('account.prelogin', { email: 'nobody@example.com' });
    expect(unknown1).toEqual(unknown2);
    expect(Object.keys(unknown1.kdf).sort()).toEqual(Object.keys(known.kdf).sort());
  });

  it('a second registration of the same email changes nothing, and does not say so (test/cli/registration.test.ts)', async () => {
    await expect(registerAccount(transport, 'ALICE@example.com', 'whatever long password')).resolves.toMatchObject({
      userUid: expect.stringMatching(/^[\w-]{22}$/),
    });
    await expect(VaultClient.login(transport, 'alice@example.com', 'whatever long password')).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('keeps serving after all of the above, with data intact', async () => {
    const uid = await alice.addRecord(newRecordData('login', 'still here', { login: 'a', password: 'b' }));
    expect((await alice.getRecord(uid)).data.title).toBe('still here');
    const health = await fetch(`${router.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
