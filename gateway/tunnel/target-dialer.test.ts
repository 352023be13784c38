import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelError, type TunnelStream } from '../../core/tunnel/mux.ts';
import { targetPolicyOf } from '../targets/target-policy.ts';
import { targetDialer } from './target-dialer.ts';

let server: Server;
let port: number;
let closedPort: number;

beforeAll(async () => {
  server = createServer((s) => {
    s.on('error', () => {}); // the bridge resets sockets it gives up on
    s.end('hi');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  // A port that was free a moment ago: connecting to it is refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
});
afterAll(() => new Promise((r) => server.close(r)));

const reasonOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'connected',
    (e: unknown) => (e instanceof TunnelError ? e.reason : `other: ${String(e)}`),
  );

/** A minimal stream that records what the bridge does with it. */
function fakeStream(): TunnelStream & { got: number[]; ended: boolean; abort(): void } {
  const closeCbs: ((reason: 'reset', message: string) => void)[] = [];
  const s = {
    id: 1,
    target: undefined,
    openedAt: 0,
    bytesIn: 0,
    bytesOut: 0,
    closed: false,
    got: [] as number[],
    ended: false,
    write: (b: Uint8Array) => (s.got.push(...b), true),
    end: () => void (s.ended = true),
    onDrain: () => {},
    pause: () => {},
    resume: () => {},
    onData: () => {},
    onEnd: () => {},
    close: () => {},
    onClose: (cb: (reason: 'reset', message: string) => void) => void closeCbs.push(cb),
    abort: () => closeCbs.forEach((cb) => cb('reset', 'test over')),
  };
  return s;
}

describe('targetDialer', () => {
  it('dials the record target when none is asked for, and an allowed one case-insensitively', async () => {
    const dial = targetDialer({
      allowed: [
        { host: '127.0.0.1', port },
        { host: 'LocalHost', port },
      ],
      connectTimeoutMs: 2000,
    });
    for (const wanted of [undefined, { host: 'localhost', port }]) {
      const endpoint = await dial(wanted);
      const stream = fakeStream();
      endpoint.attach(stream);
      for (let i = 0; i < 500 && !stream.ended; i++) await new Promise((r) => setTimeout(r, 10));
      expect(Buffer.from(stream.got).toString()).toBe('hi');
      expect(stream.ended).toBe(true);
      stream.abort(); // destroys the socket
    }
  });

  it('refuses anything outside the allowed list with not_allowed before dialling', async () => {
    const dial = targetDialer({ allowed: [{ host: 'db.internal', port: 5432 }], connectTimeoutMs: 2000 });
    const error = await dial({ host: 'db.internal', port: 22 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'not_allowed', code: 'not_allowed' });
    expect((error as Error).message).toContain('db.internal:5432');
    expect(await reasonOf(dial({ host: 'other', port: 5432 }))).toBe('not_allowed');
    expect(await reasonOf(targetDialer({ allowed: [], connectTimeoutMs: 100 })(undefined))).toBe('not_allowed');
  });

  it('maps connection failures to refused, unreachable and timeout', async () => {
    expect(await reasonOf(targetDialer({ allowed: [{ host: '127.0.0.1', port: closedPort }], connectTimeoutMs: 2000 })(undefined))).toBe('refused');
    expect(await reasonOf(targetDialer({ allowed: [{ host: 'no-such-host.invalid', port: 80 }], connectTimeoutMs: 5000 })(undefined))).toBe('unreachable');
    // A resolver that never answers stands in for a target that drops our SYNs.
    const hang = targetDialer({ allowed: [{ host: 'slow.example', port: 80 }], connectTimeoutMs: 50, lookup: () => {} });
    expect(await reasonOf(hang(undefined))).toBe('timeout');
  });

  // threat model (docs/threat-model.md): editor — a resource pointed at the cloud metadata service
  it('refuses a record whose host is a cloud metadata address, in any spelling, before dialling', async () => {
    const metadataName = ((_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) =>
      cb(null, [
        { address: '10.0.0.5', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ])) as never;
    for (const [host, lookup] of [
      ['169.254.169.254', undefined],
      ['::ffff:169.254.169.254', undefined],
      ['100.100.100.200', undefined],
      ['fd00:ec2::254', undefined],
      ['2852039166', undefined],
      ['innocent.example', metadataName],
    ] as const) {
      const error = await targetDialer({ allowed: [{ host, port: 80 }], connectTimeoutMs: 5000, ...(lookup ? { lookup } : {}) })(undefined).catch(
        (e: unknown) => e,
      );
      expect(error, host).toMatchObject({ reason: 'not_allowed' });
      expect((error as Error).message, host).toMatch(/cloud metadata address.*allowMetadataTargets=true/);
    }
  });

  // threat model (docs/threat-model.md): editor — a resource outside the networks the PAM configuration allows
  it("dials only inside the PAM configuration's targetNetworks", async () => {
    const outside = targetDialer({
      allowed: [{ host: '127.0.0.1', port }],
      connectTimeoutMs: 2000,
      policy: targetPolicyOf({ targetNetworks: '10.0.0.0/8,fd00::/8' }, 'CFG'),
    });
    const error = await outside(undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'not_allowed' });
    expect((error as Error).message).toContain('PAM configuration CFG restricts targets to 10.0.0.0/8, fd00::/8 (targetNetworks)');
    const inside = targetDialer({ allowed: [{ host: '127.0.0.1', port }], connectTimeoutMs: 2000, policy: targetPolicyOf({ targetNetworks: '127.0.0.0/8' }) });
    const endpoint = await inside(undefined);
    const stream = fakeStream();
    endpoint.attach(stream);
    stream.abort();
  });
});
