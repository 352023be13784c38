/**
 * Issue 10 items 6 and 13, over real HTTP against a real Router behind a trusted proxy (the
 * test's loopback, which sets X-Forwarded-For): the client address is the right-most hop the
 * proxy vouches for; failed logins are throttled per account and address, so an attacker cannot
 * lock a user out of her own address; and a flood of refusals writes a handful of audit rows
 * that count every attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { registerAccount, VaultClient, VaultTransport, type FetchLike } from '../../core/vault-client/index.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../support/router.ts';

/** A client behind the proxy: the proxy appends the address it saw to whatever the client wrote. */
const via =
  (forwardedFor: string): FetchLike =>
  (input, init) =>
    fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), 'x-forwarded-for': forwardedFor } });

describe.each(storageBackends())('login throttling and audit floods (%s)', (backend) => {
  let router: TestRouter;
  let attacker: VaultTransport;

  const guess = (transport: VaultTransport, email: string) =>
    transport.call('account.login', { email, authHash: toBase64Url(randomBytes(32)) }).then(
      () => null,
      (e: unknown) => e as PosternError,
    );

  beforeAll(async () => {
    router = await startTestRouter({ backend, trustProxy: true });
    const direct = await VaultTransport.connect(router.url);
    await registerAccount(direct, 'alice@example.com', 'alice master password');
    // The left-most hop is the attacker's own invention; the proxy appended the real address.
    attacker = await VaultTransport.connect(router.url, undefined, via('10.9.9.9, 203.0.113.66'));
  });
  afterAll(async () => router?.stop());

  it('keeps alice able to log in from her address while an attacker is throttled with a growing wait', async () => {
    // threat model (docs/threat-model.md): anonymous
    const refusals: PosternError[] = [];
    for (let i = 0; i < 20; i++) refusals.push((await guess(attacker, 'alice@example.com'))!);
    expect(refusals.slice(0, 5).map((e) => e.code)).toEqual(Array(5).fill('unauthorized'));
    const throttled = refusals.slice(5);
    expect(throttled.map((e) => e.code)).toEqual(Array(15).fill('throttled'));
    const waits = throttled.map((e) => e.details?.['retryAfterSeconds'] as number);
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(waits.at(-1)!).toBeGreaterThan(waits[0]!);

    // At once, from her own address, alice gets in.
    const home = await VaultTransport.connect(router.url, undefined, via('198.51.100.7'));
    const vault = await VaultClient.login(home, 'alice@example.com', 'alice master password');
    expect((await vault.whoami()).email).toBe('alice@example.com');
    // ... and her success does not forgive the attacker.
    expect((await guess(attacker, 'alice@example.com'))!.code).toBe('throttled');

    // The failures were recorded against the hop the proxy vouched for, never the spoofed one.
    const addresses = await router.db.selectFrom('login_failures').select('client_ip').distinct().execute();
    expect(addresses.map((a) => a.client_ip)).toEqual(['203.0.113.66']);
    const session = await router.db.selectFrom('sessions').select('client_ip').where('user_uid', '=', vault.session.userUid).executeTakeFirstOrThrow();
    expect(session.client_ip).toBe('198.51.100.7');
  });

  it('throttles one address that sprays many accounts', async () => {
    // threat model (docs/threat-model.md): anonymous
    const sprayer = await VaultTransport.connect(router.url, undefined, via('192.0.2.200'));
    const codes: string[] = [];
    for (let i = 0; i < 25; i++) codes.push((await guess(sprayer, `user${i}@example.com`))!.code);
    expect(codes.slice(0, 20)).toEqual(Array(20).fill('unauthorized'));
    expect(codes.slice(20)).toEqual(Array(5).fill('throttled'));
  });

  it('writes a handful of audit rows for 200 failed logins, counting all of them, and keeps answering', async () => {
    // threat model (docs/threat-model.md): anonymous
    const flooder = await VaultTransport.connect(router.url, undefined, via('192.0.2.77'));
    for (let i = 0; i < 200; i++) expect(await guess(flooder, 'flooded@example.com')).toBeInstanceOf(PosternError);
    const rows = await router.db.selectFrom('events').selectAll().where('action', '=', 'account.login').where('actor', '=', 'flooded@example.com').execute();
    expect(rows.length).toBeLessThanOrEqual(4);
    const counts = rows.map((r) => JSON.parse(r.detail!) as { count: number; firstAt: number; lastAt: number });
    expect(counts.reduce((n, c) => n + c.count, 0)).toBe(200);
    for (const c of counts) expect(c.lastAt).toBeGreaterThanOrEqual(c.firstAt);
    expect(rows.every((r) => r.client_ip === '192.0.2.77')).toBe(true);
    expect((await fetch(`${router.url}/healthz`)).status).toBe(200);
  });
});
