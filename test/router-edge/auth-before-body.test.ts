/**
 * Issue 10 item 5: the Router decides from the headers whether a caller may send a body at all,
 * before it reads a byte of it, and no single session or device can hold the Router's memory
 * with concurrent large uploads. Each attack runs over real HTTP against a real Router.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '../../core/crypto/index.ts';
import type { PosternError } from '../../core/errors.ts';
import { sessionIdOf, VAULT_SESSION_HEADER } from '../../core/protocol/envelope.ts';
import { SECRETS_HEADERS } from '../../core/protocol/secrets-api.ts';
import { newRecordData } from '../../core/records/index.ts';
import { SecretsClient } from '../../core/secrets-client/index.ts';
import { registerAccount, VaultClient, VaultTransport } from '../../core/vault-client/index.ts';
import { openRawPost, type RawRequest } from '../support/raw-http.ts';
import { startTestRouter, storageBackends, type TestRouter } from '../support/router.ts';

const BIG = String(32 * 1024 * 1024);
const JSON_TYPE = { 'content-type': 'application/json' };
/**
 * The held uploads take their slots when the Router has looked their session or device up, a
 * database round trip after their headers arrive: an upload tried meanwhile may take a slot
 * first, and then a held one is refused (heldAgain). Under the full suite's load one try can
 * take most of a second, vitest's default for a poll.
 */
const POLL = { timeout: 10_000, interval: 100 };

const errorOf = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error;

describe.each(storageBackends())('the Router authenticates before it reads a body (%s)', (backend) => {
  let router: TestRouter;
  let alice: VaultClient;
  let recordUid: string;
  let device: SecretsClient;
  const open: RawRequest[] = [];

  beforeAll(async () => {
    router = await startTestRouter({ backend });
    const transport = await VaultTransport.connect(router.url);
    await registerAccount(transport, 'alice@example.com', 'alice master password');
    alice = await VaultClient.login(transport, 'alice@example.com', 'alice master password');
    const folder = await alice.addFolder('shared', { shared: true });
    recordUid = await alice.addRecord(newRecordData('login', 'with files', { login: 'a', password: 'b' }), { folderUid: folder });
    const app = await alice.createApplication('uploader');
    await alice.shareFolderToApplication(app, folder, true);
    const [issued] = await alice.addApplicationClients(app, { unlockIp: true });
    device = new SecretsClient(await SecretsClient.redeemToken(issued!.token));
  });
  afterAll(async () => {
    for (const request of open) request.close();
    await router?.stop();
  });

  function hold(path: string, headers: Record<string, string>): RawRequest {
    const request = openRawPost(router.url, path, headers);
    open.push(request);
    return request;
  }

  /** Held uploads that have started their bodies; one the Router answered (refused) is held again. */
  function heldUploads(path: string, headers: Record<string, string>, firstBytes: string) {
    const answered = new WeakSet<RawRequest>();
    const start = () => {
      const request = hold(path, headers);
      request.send(firstBytes);
      void request.response.then(
        () => answered.add(request),
        () => answered.add(request),
      );
      return request;
    };
    const held = [start(), start()];
    return {
      held,
      heldAgain() {
        for (let i = 0; i < held.length; i++) if (answered.has(held[i]!)) held[i] = start();
      },
    };
  }

  it('answers a 32 MB vault upload without a session from its headers, before any of the body is sent', async () => {
    // threat model (docs/threat-model.md): anonymous
    const request = hold('/api/v1/vault/file.upload', { ...JSON_TYPE, 'content-length': BIG });
    const response = await request.response;
    expect(response.status).toBe(401);
    expect(errorOf(response.body).code).toBe('unauthorized');
    expect(request.bodyBytesSent).toBe(0);
    // The Router does not keep the connection to drain the body it refused.
    expect(response.headers['connection']).toBe('close');
  });

  it('answers a 32 MB vault upload naming an unknown session before any of the body is sent', async () => {
    // threat model (docs/threat-model.md): anonymous
    const request = hold('/api/v1/vault/file.upload', { ...JSON_TYPE, 'content-length': BIG, [VAULT_SESSION_HEADER]: toBase64Url(randomBytes(32)) });
    const response = await request.response;
    expect(response.status).toBe(401);
    expect(errorOf(response.body).code).toBe('unauthorized');
    expect(request.bodyBytesSent).toBe(0);
  });

  it('limits a public command (no session) to a few KiB', async () => {
    // threat model (docs/threat-model.md): anonymous
    const request = hold('/api/v1/vault/account.login', { ...JSON_TYPE, 'content-length': String(1024 * 1024) });
    const response = await request.response;
    expect(response.status).toBe(413);
    expect(errorOf(response.body).code).toBe('payload_too_large');
    expect(request.bodyBytesSent).toBe(0);
  });

  it('answers a 32 MB device upload with an unknown client id before any of the body is sent', async () => {
    // threat model (docs/threat-model.md): anonymous
    const request = hold('/api/v1/secrets/add_file', {
      'content-type': 'application/octet-stream',
      'content-length': BIG,
      [SECRETS_HEADERS.clientId]: toBase64Url(randomBytes(64)),
      [SECRETS_HEADERS.transmissionKey]: toBase64Url(randomBytes(120)),
      [SECRETS_HEADERS.signature]: toBase64Url(randomBytes(64)),
    });
    const response = await request.response;
    expect(response.status).toBe(401);
    expect(errorOf(response.body).code).toBe('unauthorized');
    expect(request.bodyBytesSent).toBe(0);
  });

  it('refuses a third concurrent upload of one session with throttled and Retry-After, and serves it once one ends', async () => {
    // threat model (docs/threat-model.md): viewer
    const session = { ...JSON_TYPE, 'content-length': String(4 * 1024 * 1024), [VAULT_SESSION_HEADER]: sessionIdOf(alice.session.sessionToken) };
    const slow = heldUploads('/api/v1/vault/file.upload', session, '{"v":1,');
    const upload = () => alice.uploadFile(recordUid, { name: 'note.txt', bytes: new TextEncoder().encode('hello') });
    let refused: PosternError | undefined;
    await expect
      .poll(async () => {
        slow.heldAgain();
        refused = (await upload().then(
          () => undefined,
          (e: unknown) => e,
        )) as PosternError | undefined;
        return refused?.code;
      }, POLL)
      .toBe('throttled');
    expect(refused!.details?.['retryAfterSeconds']).toBeGreaterThan(0);
    for (const s of slow.held) s.close();
    await expect
      .poll(
        async () =>
          await upload().then(
            () => 'ok',
            (e: unknown) => (e as PosternError).code,
          ),
        POLL,
      )
      .toBe('ok');
  });

  it('refuses a third concurrent upload of one device with throttled', async () => {
    // threat model (docs/threat-model.md): application device
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': String(4 * 1024 * 1024),
      [SECRETS_HEADERS.clientId]: device.config.clientId,
      [SECRETS_HEADERS.transmissionKey]: toBase64Url(randomBytes(120)),
      [SECRETS_HEADERS.signature]: toBase64Url(randomBytes(64)),
    };
    const slow = heldUploads('/api/v1/secrets/add_file', headers, 'x');
    const addFile = () => device.addFile(recordUid, { name: 'device.txt', bytes: new TextEncoder().encode('from the device') });
    await expect
      .poll(async () => {
        slow.heldAgain();
        return addFile().then(
          () => 'ok',
          (e: unknown) => (e as PosternError).code,
        );
      }, POLL)
      .toBe('throttled');
    for (const s of slow.held) s.close();
    await expect
      .poll(
        async () =>
          await addFile().then(
            () => 'ok',
            (e: unknown) => (e as PosternError).code,
          ),
        POLL,
      )
      .toBe('ok');
  });
});
