/**
 * Issue 10 item 9: a vault request captured off the wire (or from a proxy's log) cannot be sent
 * again. The real SDK's bytes are recorded through its fetch and POSTed a second time to a real
 * Router: refused as `replayed`, and nothing happened twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealRequest, sessionIdOf, toWireEnvelope, VAULT_SESSION_HEADER } from '../../core/protocol/envelope.ts';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport, type FetchLike } from '../../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../support/router.ts';

interface Captured {
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe.each(storageBackends())('vault requests cannot be replayed (%s)', (backend) => {
  let router: TestRouter;
  let alice: VaultClient;
  const captured: Captured[] = [];

  /** The wire as an eavesdropper on a TLS-terminating proxy would see it. */
  const recording: FetchLike = (input, init) => {
    captured.push({ url: String(input), headers: { ...(init?.headers as Record<string, string>) }, body: String(init?.body) });
    return fetch(input, init);
  };
  const replay = (request: Captured) => fetch(request.url, { method: 'POST', headers: request.headers, body: request.body });
  const lastCall = (command: string) => [...captured].reverse().find((c) => c.url.endsWith(`/api/v1/vault/${command}`))!;

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    const transport = await VaultTransport.connect(router.url, undefined, recording);
    await registerAccount(transport, 'alice@example.com', 'alice master password');
    alice = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
  });
  afterAll(async () => router?.stop());

  it('refuses a captured record.update sent again, and the record keeps one new revision', async () => {
    // threat model (docs/threat-model.md): anonymous
    const uid = await alice.addRecord(newRecordData('login', 'db', { login: 'root', password: 'first' }));
    await alice.updateRecord(uid, (d) => ({ ...d, fields: { ...d.fields, password: 'second' } }));
    const update = lastCall('record.update');
    const before = await router.db.selectFrom('records').select('revision').where('uid', '=', uid).executeTakeFirstOrThrow();
    const eventsBefore = await router.db.selectFrom('events').select('uid').where('record_uid', '=', uid).execute();

    const response = await replay(update);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('replayed');

    const after = await router.db.selectFrom('records').select('revision').where('uid', '=', uid).executeTakeFirstOrThrow();
    expect(after.revision).toBe(before.revision);
    expect(await router.db.selectFrom('events').select('uid').where('record_uid', '=', uid).execute()).toHaveLength(eventsBefore.length);
    expect((await alice.getRecord(uid)).data.fields['password']).toBe('second');
  });

  it('refuses a captured login sent again, so it yields no second session', async () => {
    // threat model (docs/threat-model.md): anonymous
    const login = lastCall('account.login');
    const sessions = await router.db.selectFrom('sessions').select('token_hash').execute();
    const response = await replay(login);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('replayed');
    expect(await router.db.selectFrom('sessions').select('token_hash').execute()).toHaveLength(sessions.length);
  });

  it('tells a client that sends no timestamp and nonce to upgrade', async () => {
    // threat model (docs/threat-model.md): anonymous
    const old = sealRequest(alice.transport.routerPublicKey, 'vault/account.whoami', { session: alice.session.sessionToken, body: {} });
    const response = await fetch(`${router.url}/api/v1/vault/account.whoami`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [VAULT_SESSION_HEADER]: sessionIdOf(alice.session.sessionToken) },
      body: JSON.stringify(toWireEnvelope(old)),
    });
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('bad_request');
    expect(error.message).toMatch(/older than the Router.*Upgrade/s);
  });

  it('refuses a request whose timestamp is more than 5 minutes off', async () => {
    // threat model (docs/threat-model.md): anonymous
    const stale = sealRequest(alice.transport.routerPublicKey, 'vault/account.whoami', {
      session: alice.session.sessionToken,
      body: {},
      timestamp: Date.now() - 6 * 60 * 1000,
      nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    });
    const response = await fetch(`${router.url}/api/v1/vault/account.whoami`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [VAULT_SESSION_HEADER]: sessionIdOf(alice.session.sessionToken) },
      body: JSON.stringify(toWireEnvelope(stale)),
    });
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('request_expired');
  });
});
