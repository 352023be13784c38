/**
 * NatsBus against a real nats-server (POSTERN_TEST_NATS, found or started by
 * scripts/services/nats.sh): request/reply between two connections, and the same failure
 * contract as LocalBus (noResponders, timeout) that GatewayHub.deliver relies on.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PosternError } from '../../../core/errors.ts';
import { NatsBus, redactNatsUrl } from './nats-bus.ts';
import { requireService } from '../../../test/support/services.ts';

const NATS = requireService('NATS', 'POSTERN_TEST_NATS');

async function failure(promise: Promise<unknown>): Promise<PosternError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PosternError) return err;
    throw err;
  }
  throw new Error('expected the request to fail');
}

describe('redactNatsUrl', () => {
  it('hides credentials, keeps the servers', () => {
    expect(redactNatsUrl('nats://user:pw@10.0.0.5:4222, nats://tok@b:4222,nats://c:4222')).toBe('nats://***@10.0.0.5:4222,nats://***@b:4222,nats://c:4222');
  });
});

describe.skipIf(!NATS)(`NatsBus on a real nats-server${NATS ? '' : ' (skipped: POSTERN_TEST_NATS is not set; `npm test` finds or starts nats-server)'}`, () => {
  let server: NatsBus;
  let client: NatsBus;
  const prefix = `postern.test.${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    server = await NatsBus.connect({ url: NATS!, name: 'postern-test-server' });
    client = await NatsBus.connect({ url: NATS!, name: 'postern-test-client' });
  });
  afterAll(async () => {
    await server?.close();
    await client?.close();
  });

  it("round-trips JSON between processes, and carries a handler's PosternError back", async () => {
    const subject = `${prefix}.echo`;
    const seen: unknown[] = [];
    const stop = server.serve(subject, async (payload) => {
      seen.push(payload);
      const p = payload as { n: number };
      if (p.n < 0) throw new PosternError('bad_request', 'negative', { n: p.n });
      return { doubled: p.n * 2, nested: { list: [1, 'two', null] } };
    });
    await server.flush();
    expect(await client.request(subject, { n: 21 }, 2_000)).toEqual({ doubled: 42, nested: { list: [1, 'two', null] } });
    // Answers in parallel, each to its own asker.
    const many = await Promise.all([1, 2, 3, 4, 5].map((n) => client.request(subject, { n }, 2_000)));
    expect(many.map((r) => (r as { doubled: number }).doubled)).toEqual([2, 4, 6, 8, 10]);
    const refused = await failure(client.request(subject, { n: -1 }, 2_000));
    expect(refused).toMatchObject({ code: 'bad_request', message: 'negative', details: { n: -1 } });
    expect(seen).toHaveLength(7);
    stop();
    await server.flush();
    expect((await failure(client.request(subject, { n: 1 }, 2_000))).details).toMatchObject({ noResponders: true });
  });

  it('fails fast with noResponders when nobody serves the subject', async () => {
    const started = Date.now();
    const err = await failure(client.request(`${prefix}.nobody`, {}, 10_000));
    expect(err.details).toEqual({ noResponders: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails with timeout when the server is too slow', async () => {
    const subject = `${prefix}.slow`;
    const stop = server.serve(subject, () => new Promise((resolve) => setTimeout(() => resolve('late'), 4_000)));
    await server.flush();
    const started = Date.now();
    const err = await failure(client.request(subject, {}, 200));
    expect(err.details).toEqual({ timeout: true });
    expect(Date.now() - started).toBeLessThan(3_000);
    stop();
  });

  it('stops serving when closed (drain), and says why it cannot connect', async () => {
    const extra = await NatsBus.connect({ url: NATS! });
    const subject = `${prefix}.closing`;
    extra.serve(subject, async () => 'here');
    await extra.flush();
    expect(await client.request(subject, null, 2_000)).toBe('here');
    await extra.close();
    await extra.close(); // idempotent
    expect((await failure(client.request(subject, null, 2_000))).details).toMatchObject({ noResponders: true });
    const unreachable = await failure(NatsBus.connect({ url: 'nats://user:secret@127.0.0.1:1', connectTimeoutMs: 1_000 }));
    expect(unreachable.code).toBe('bad_state');
    expect(unreachable.message).toContain('nats://***@127.0.0.1:1');
    expect(unreachable.message).not.toContain('secret');
  });
});
