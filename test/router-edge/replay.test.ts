/**
 * Issue 10 item 9: a vault request captured off the wire (or from a proxy's log) cannot be sent
 * again. The real SDK's bytes are recorded through its fetch and POSTed a second time to a real
 * Router: refused as `replayed`, and nothing happened twice.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fromBase64Url, generateAesKey, toBase64Url } from '../../core/crypto/index.ts';
import { sealRequest, sealWithKey, sessionIdOf, toWireEnvelope, VAULT_SESSION_HEADER, vaultRequestFrame } from '../../core/protocol/envelope.ts';
import { PUBLIC_VAULT_COMMANDS, type VaultCommand } from '../../core/protocol/vault-api.ts';
import { newRecordData } from '../../core/records/index.ts';
import { registerAccount, VaultClient, VaultTransport, type FetchLike } from '../../core/vault-client/index.ts';
import { TransmissionKeyCache } from '../../router/http/transmission-keys.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../support/router.ts';

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
  /** The wrapped transmission key a captured request carries. */
  const wrapOf = (request: Captured) => (JSON.parse(request.body) as { key: string }).key;

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
    const old = await sealRequest(alice.transport.routerPublicKey, 'vault/account.whoami', { session: alice.session.sessionToken, body: {} });
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
    const stale = await sealRequest(alice.transport.routerPublicKey, 'vault/account.whoami', {
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

  describe('with the Router remembering transmission keys', () => {
    it('still refuses a captured request replayed byte for byte after its key was remembered', async () => {
      // threat model (docs/threat-model.md): anonymous
      const uid = await alice.addRecord(newRecordData('login', 'memo', { login: 'root', password: 'one' }));
      await alice.updateRecord(uid, (d) => ({ ...d, fields: { ...d.fields, password: 'two' } }));
      const update = lastCall('record.update');
      const wrap = wrapOf(update);
      expect(rememberedWraps()).toContain(wrap);
      const before = await router.db.selectFrom('records').select('revision').where('uid', '=', uid).executeTakeFirstOrThrow();

      const since = unwraps.mock.calls.length;
      const response = await replay(update);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('replayed');
      expect(await lookupsOf(wrap, since)).toEqual([true]); // the memo answered, and the nonce check still refused it

      const after = await router.db.selectFrom('records').select('revision').where('uid', '=', uid).executeTakeFirstOrThrow();
      expect(after.revision).toBe(before.revision);
      expect((await alice.getRecord(uid)).data.fields['password']).toBe('two');
    });

    it('unwraps a session’s key once, then answers its later requests from the memo; anonymous requests add nothing', async () => {
      const transport = await VaultTransport.connect(router.url, undefined, recording);
      const first = captured.length;
      const rememberedBefore = remembers.mock.calls.length;
      const since = unwraps.mock.calls.length;
      await registerAccount(transport, 'bob@example.com', 'bob master password');
      const bob = await VaultClient.login(transport, 'bob@example.com', 'bob master password'); // ends with session.store-key and session.keys
      await bob.whoami();
      await bob.whoami();
      const calls = captured.slice(first);
      const wrap = wrapOf(calls[0]!);
      // One transmission key for all of this transport's requests.
      for (const c of calls) expect(wrapOf(c)).toBe(wrap);
      const commands = calls.map((c) => c.url.slice(c.url.lastIndexOf('/') + 1) as VaultCommand);
      const firstInSession = commands.findIndex((c) => !PUBLIC_VAULT_COMMANDS.has(c));
      expect(commands.slice(0, firstInSession)).toEqual(expect.arrayContaining(['account.register', 'account.prelogin', 'account.login']));
      expect(commands.slice(firstInSession).every((c) => !PUBLIC_VAULT_COMMANDS.has(c))).toBe(true);
      // Anonymous requests are unwrapped every time (nothing remembered them); the first request of the
      // live session is unwrapped too, and remembered; every later one is answered from the memo.
      expect(await lookupsOf(wrap, since)).toEqual(commands.map((_, i) => i > firstInSession));
      expect(rememberedWraps(rememberedBefore)).toEqual([wrap]);

      // An anonymous request may use a remembered key, but adds nothing to the memo.
      const more = unwraps.mock.calls.length;
      await transport.call('account.prelogin', { email: 'bob@example.com' });
      expect(await lookupsOf(wrap, more)).toEqual([true]);
      expect(rememberedWraps(rememberedBefore)).toEqual([wrap]);
    });

    it('does not add an anonymous request’s key to the memo (account.prelogin)', async () => {
      const transport = await VaultTransport.connect(router.url, undefined, recording);
      const rememberedBefore = remembers.mock.calls.length;
      const since = unwraps.mock.calls.length;
      await transport.call('account.prelogin', { email: 'alice@example.com' });
      await transport.call('account.prelogin', { email: 'nobody@example.com' });
      const wrap = wrapOf(lastCall('account.prelogin'));
      expect(await lookupsOf(wrap, since)).toEqual([false, false]);
      expect(rememberedWraps(rememberedBefore)).toEqual([]);
    });

    it('gives a remembered key to no one else: a payload under another key with that wrap does not open', async () => {
      // threat model (docs/threat-model.md): vault user — another user who copies alice's wrap
      await alice.whoami();
      const aliceWrap = wrapOf(lastCall('account.whoami'));
      expect(rememberedWraps()).toContain(aliceWrap);
      const transport = await VaultTransport.connect(router.url);
      await registerAccount(transport, 'mallory@example.com', 'mallory master password');
      const mallory = await VaultClient.login(transport, 'mallory@example.com', 'mallory master password');
      // Mallory's own live session, alice's wrap, a payload under a key Mallory made.
      const forged = await sealWithKey(
        { transmissionKey: generateAesKey(), wrappedKey: fromBase64Url(aliceWrap) },
        'vault/account.whoami',
        vaultRequestFrame({}, mallory.session.sessionToken),
      );
      const since = unwraps.mock.calls.length;
      const response = await fetch(`${router.url}/api/v1/vault/account.whoami`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [VAULT_SESSION_HEADER]: sessionIdOf(mallory.session.sessionToken) },
        body: JSON.stringify(toWireEnvelope(forged)),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('decrypt_failed');
      expect(await lookupsOf(aliceWrap, since)).toEqual([true]);
    });
  });
});
