import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage } from '../protocol/tunnel-frames.ts';
import { memoryChannelPair, type MemoryChannel, type MemoryChannelOptions } from './testing/memory-channel.ts';
import { TunnelError, TunnelMux, type TunnelDial, type TunnelEndpoint, type TunnelMuxOptions, type TunnelStream } from './mux.ts';

const muxes: TunnelMux[] = [];
afterEach(() => {
  for (const m of muxes.splice(0)) m.close();
});

const echo: TunnelEndpoint = {
  attach(stream) {
    stream.onData((b) => stream.write(b));
    stream.onEnd(() => stream.end());
  },
};

function pair(dial: TunnelDial, options: Partial<TunnelMuxOptions> = {}, channel: MemoryChannelOptions = {}) {
  const [a, b] = memoryChannelPair(channel);
  const client = new TunnelMux(a, { ...options, role: 'client' });
  const gateway = new TunnelMux(b, { ...options, role: 'gateway', dial });
  muxes.push(client, gateway);
  return { client, gateway, a, b };
}

const until = async (cond: () => boolean, what: string, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

function collect(stream: TunnelStream): { chunks: Uint8Array[]; ended: boolean; closed?: string; text(): string } {
  const state = {
    chunks: [] as Uint8Array[],
    ended: false,
    closed: undefined as string | undefined,
    text: () => new TextDecoder().decode(Buffer.concat(state.chunks)),
  };
  stream.onData((b) => state.chunks.push(b.slice()));
  stream.onEnd(() => (state.ended = true));
  stream.onClose((reason) => (state.closed = reason));
  return state;
}

const reasonOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof TunnelError ? e.reason : `other: ${String(e)}`),
  );

describe('TunnelMux', () => {
  it('opens a connection, carries bytes both ways, half-closes, and finishes normally', async () => {
    const targets: unknown[] = [];
    const { client, gateway } = pair(async (t) => (targets.push(t), echo));
    const stream = await client.open({ host: 'db.example', port: 5432 });
    const got = collect(stream);
    stream.write(new TextEncoder().encode('hello '));
    stream.write(new TextEncoder().encode('tunnel'));
    await until(() => got.text() === 'hello tunnel', 'the echo');
    expect(targets).toEqual([{ host: 'db.example', port: 5432 }]);
    expect(client.connections()).toMatchObject([{ id: 1, target: { host: 'db.example', port: 5432 }, state: 'open', bytesIn: 12, bytesOut: 12 }]);
    stream.end();
    await until(() => got.closed !== undefined, 'the close');
    expect(got).toMatchObject({ ended: true, closed: 'normal' });
    await until(() => gateway.connections().length === 0, 'the gateway to forget it');
    expect(client.connections()).toEqual([]);
  });

  it('passes the gateway refusal reason to open()', async () => {
    const { client } = pair(async (t) => {
      if (t?.host === 'elsewhere') throw new TunnelError('not_allowed', 'not this host');
      throw new Error('ECONNREFUSED-ish surprise');
    });
    const error = await client.open({ host: 'elsewhere', port: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelError);
    expect(error).toMatchObject({ reason: 'not_allowed', message: 'not this host', code: 'not_allowed' });
    expect(await reasonOf(client.open())).toBe('unreachable');
  });

  it('times out an OPEN the gateway never answers', async () => {
    const { client } = pair(() => new Promise(() => {}), { openTimeoutMs: 50 });
    expect(await reasonOf(client.open())).toBe('timeout');
  });

  it('keeps a slow reader from stalling other connections or growing buffers', async () => {
    const window = 64 * 1024;
    const highWater = 64 * 1024;
    const sources: TunnelStream[] = [];
    // The gateway side writes as fast as the stream lets it, like a socket honouring write().
    const source: TunnelEndpoint = {
      attach(stream) {
        sources.push(stream);
        const chunk = new Uint8Array(16 * 1024).fill(1);
        const pump = (): void => {
          while (!stream.closed && stream.write(chunk));
        };
        stream.onDrain(pump);
        pump();
      },
    };
    const { client, gateway } = pair(async () => source, {
      initialWindow: window,
      streamHighWater: highWater,
      channelHighWater: 128 * 1024,
      channelLowWater: 32 * 1024,
    });
    const slow = await client.open();
    const fast = await client.open();
    slow.pause(); // never reads
    let fastBytes = 0;
    let maxGateway = 0;
    let maxClient = 0;
    slow.onData(() => {});
    fast.onData((b) => (fastBytes += b.length));
    await until(() => {
      const g = gateway.buffered();
      const c = client.buffered();
      maxGateway = Math.max(maxGateway, g.outgoing + g.incoming);
      maxClient = Math.max(maxClient, c.outgoing + c.incoming);
      return fastBytes >= 8 * 1024 * 1024;
    }, 'the fast connection to move 8 MiB');
    // Per connection: at most the queue limit plus one write on the sender, one window on the
    // receiver; the slow connection received no more than its first window.
    expect(slow.bytesIn).toBeLessThanOrEqual(window);
    expect(maxGateway).toBeLessThanOrEqual(2 * (highWater + 16 * 1024));
    expect(maxClient).toBeLessThanOrEqual(2 * window);
    expect(sources[0]!.bytesOut).toBeLessThanOrEqual(window);
    // And once the reader reads, everything flows again.
    let slowBytes = 0;
    slow.onData((b) => (slowBytes += b.length));
    slow.resume();
    await until(() => slowBytes >= 1024 * 1024, 'the slow connection to catch up');
  });

  it('batches small writes into few messages', async () => {
    const { client, a } = pair(async () => echo);
    const stream = await client.open();
    const got = collect(stream);
    const before = a.messagesSent;
    for (let i = 0; i < 1000; i++) stream.write(new Uint8Array([i & 0xff]));
    await until(() => got.chunks.reduce((n, c) => n + c.length, 0) === 1000, 'the echo');
    expect(a.messagesSent - before).toBeLessThan(10);
  });

  it('detects a dead peer by its silence and closes every stream with peer_timeout', async () => {
    const { client, gateway, a } = pair(async () => echo, { pingIntervalMs: 20, peerTimeoutMs: 400 });
    const streams = await Promise.all([client.open(), client.open(), client.open()]);
    const states = streams.map(collect);
    const closed = new Promise<string>((resolve) => client.onClosed((reason) => resolve(reason)));
    // Idle for longer than the timeout while alive: pings keep it up.
    await new Promise((r) => setTimeout(r, 600));
    expect(client.closed).toBe(false);
    (a as MemoryChannel).stall();
    expect(await closed).toBe('peer_timeout');
    expect(states.map((s) => s.closed)).toEqual(['peer_timeout', 'peer_timeout', 'peer_timeout']);
    await until(() => gateway.closed, 'the gateway to notice too');
    expect(gateway.closeReason).toBe('peer_timeout');
    expect(await reasonOf(client.open())).toBe('peer_timeout');
  });

  it('closes every stream with channel_closed when the channel closes', async () => {
    const { client, gateway, b } = pair(async () => echo);
    const got = collect(await client.open());
    await until(() => gateway.connections().length === 1, 'the gateway side');
    b.close();
    await until(() => got.closed !== undefined, 'the close');
    expect(got.closed).toBe('channel_closed');
    expect(client.closeReason).toBe('channel_closed');
  });

  it('closes with protocol_error on a malformed message or a broken rule, without throwing', async () => {
    for (const bad of [
      new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1, 99]), // unknown control type
      encodeMessage([{ type: 'data', id: 1, payload: new Uint8Array(2000) }]), // past its credit
      encodeMessage([{ type: 'data', id: 42, payload: new Uint8Array(1) }]), // never opened
      encodeMessage([{ type: 'opened', id: 1, window: 5 }]), // OPENED to the gateway
    ]) {
      const { client, gateway, a } = pair(async () => echo, { initialWindow: 1000 });
      const got = collect(await client.open());
      await until(() => gateway.connections().length === 1, 'the gateway side');
      a.send(bad);
      await until(() => gateway.closed, 'the gateway to give up');
      expect(gateway.closeReason).toBe('protocol_error');
      await until(() => got.closed !== undefined, 'the client to hear');
      expect(got.closed).toBe('channel_closed');
    }
  });

  it('aborts one connection with a reason the other side sees', async () => {
    const seen: TunnelStream[] = [];
    const { client } = pair(async () => ({ attach: (s) => void seen.push(s) }));
    const mine = collect(await client.open());
    const other = collect(await client.open());
    await until(() => seen.length === 2, 'both attached');
    const theirs = collect(seen[0]!);
    seen[0]!.close('reset', 'target hung up');
    await until(() => mine.closed !== undefined, 'the close');
    expect(mine.closed).toBe('reset');
    expect(theirs.closed).toBe('reset');
    expect(other.closed).toBeUndefined();
    seen[1]!.write(new Uint8Array([1]));
    await until(() => other.chunks.length === 1, 'the other connection still works');
  });
});

describe('TunnelMux.open', () => {
  it('rejects a target OPEN cannot carry without harming the tunnel', async () => {
    const { client } = pair(async () => echo);
    expect(await reasonOf(client.open({ host: 'two words', port: 22 }))).toBe('not_allowed');
    expect(await reasonOf(client.open({ host: 'db', port: 0 }))).toBe('not_allowed');
    const stream = await client.open({ host: 'db', port: 22 });
    expect(stream.closed).toBe(false);
  });
});

describe('TunnelMux under hostile input', () => {
  it('never throws out of onMessage and closes only with protocol_error', async () => {
    const { mulberry32 } = await import('../testing/prng.ts');
    const { TUNNEL_CLOSE_REASONS } = await import('../protocol/tunnel-frames.ts');
    const rnd = mulberry32(0x5eed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const frame = (): Parameters<typeof encodeMessage>[0][number] => {
      const id = 1 + int(4);
      switch (int(8)) {
        case 0:
          return { type: 'data', id, payload: new Uint8Array(1 + int(3000)) };
        case 1:
          return { type: 'open', id, window: 1 + int(5000), ...(rnd() < 0.5 ? { target: { host: 'h', port: 1 + int(9) } } : {}) };
        case 2:
          return { type: 'opened', id, window: 1 + int(0x7ffffffe) };
        case 3:
          return { type: 'close', id, reason: TUNNEL_CLOSE_REASONS[int(TUNNEL_CLOSE_REASONS.length)]!, message: 'x' };
        case 4:
          return { type: 'eof', id };
        case 5:
          return { type: 'window', id, credit: 1 + int(0x7ffffffe) };
        case 6:
          return { type: 'ping', nonce: int(1000) };
        default:
          return { type: 'pong', nonce: int(1000) };
      }
    };
    const reasons = new Map<string, number>();
    for (let run = 0; run < 300; run++) {
      let deliver: (m: Uint8Array) => void = () => {};
      const channel = {
        bufferedAmount: 0,
        maxMessageSize: 65536,
        send: () => {},
        onMessage: (cb: (m: Uint8Array) => void) => void (deliver = cb),
        onBufferedAmountLow: () => {},
        onClose: () => {},
        close: () => {},
      };
      const role = run % 2 ? 'client' : 'gateway';
      const mux = new TunnelMux(channel, { role, dial: async () => echo, initialWindow: 4096 });
      muxes.push(mux);
      if (role === 'client') for (let i = 0; i < 3; i++) mux.open().catch(() => {});
      for (let i = 0; i < 40 && !mux.closed; i++) {
        const message = rnd() < 0.1 ? Uint8Array.from({ length: int(20) }, () => int(256)) : encodeMessage(Array.from({ length: 1 + int(3) }, frame));
        expect(() => deliver(message)).not.toThrow();
        await Promise.resolve();
      }
      const reason = mux.closeReason ?? 'alive';
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      mux.close();
    }
    expect([...reasons.keys()].sort()).toEqual(['alive', 'protocol_error'].filter((r) => reasons.has(r)));
    expect(reasons.get('protocol_error')).toBeGreaterThan(100);
  });
});
