import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryChannelPair } from '../../core/tunnel/testing/memory-channel.ts';
import { TunnelError, TunnelMux, type TunnelDial, type TunnelEndpoint } from '../../core/tunnel/mux.ts';
import { FIRST_DYNAMIC_PORT, startTunnelListener, type LocalConnectionClosed, type TunnelListener } from './local-listener.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const echo: TunnelEndpoint = {
  attach(stream) {
    stream.onData((b) => stream.write(b));
    stream.onEnd(() => stream.end());
  },
};

function tunnel(dial: TunnelDial): { client: TunnelMux; gateway: TunnelMux } {
  const [a, b] = memoryChannelPair();
  const client = new TunnelMux(a, { role: 'client' });
  const gateway = new TunnelMux(b, { role: 'gateway', dial });
  cleanup.push(
    () => client.close(),
    () => gateway.close(),
  );
  return { client, gateway };
}

async function listener(options: Parameters<typeof startTunnelListener>[0]): Promise<TunnelListener> {
  const l = await startTunnelListener(options);
  cleanup.push(() => l.close());
  return l;
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.on('error', reject);
    cleanup.push(() => s.destroy());
  });
}

/** Everything the socket receives until it is closed, whether it saw an orderly end, and any error. */
function drain(s: Socket): Promise<{ text: string; ended: boolean; error?: string }> {
  const chunks: Buffer[] = [];
  let ended = false;
  let error: string | undefined;
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('end', () => {
    ended = true;
    s.end(); // as a client would once the server is done
  });
  s.on('error', (e: Error & { code?: string }) => (error = e.code));
  return new Promise((resolve) => s.on('close', () => resolve({ text: Buffer.concat(chunks).toString(), ended, ...(error ? { error } : {}) })));
}

const nextClose = (l: TunnelListener): Promise<LocalConnectionClosed> => new Promise((resolve) => l.onClose(resolve));

describe('startTunnelListener', { timeout: 10_000 }, () => {
  it('takes the first free port from 49152, or the one asked for', async () => {
    const { client } = tunnel(async () => echo);
    const first = await listener({ mux: client });
    const second = await listener({ mux: client });
    expect(first.port).toBeGreaterThanOrEqual(FIRST_DYNAMIC_PORT);
    expect(second.port).toBeGreaterThan(first.port);
    expect(first.address).toBe(`127.0.0.1:${first.port}`);
    const error = await startTunnelListener({ mux: client, port: first.port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelError);
    expect((error as TunnelError).reason).toBe('busy');
  });

  it('carries each local connection through the tunnel and reports it', async () => {
    const { client } = tunnel(async () => echo);
    const l = await listener({ mux: client });
    const opened = new Promise((resolve) => l.onOpen(resolve));
    const closed = nextClose(l);
    const s = await dial(l.port);
    const result = drain(s);
    s.write('ping through the tunnel');
    expect(await opened).toMatchObject({ id: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(l.connections()).toMatchObject([{ id: 1, bytesIn: 23, bytesOut: 23 }]);
    s.end();
    expect(await result).toEqual({ text: 'ping through the tunnel', ended: true });
    expect(await closed).toMatchObject({ id: 1, reason: 'normal', bytesIn: 23, bytesOut: 23 });
    expect(l.connections()).toEqual([]);
  });

  it('closes the local socket with the gateway refusal as the reason', async () => {
    const { client } = tunnel(async () => {
      throw new TunnelError('not_allowed', 'this record allows db:5432 only');
    });
    const l = await listener({ mux: client, target: { host: 'elsewhere', port: 22 } });
    const closed = nextClose(l);
    const result = drain(await dial(l.port));
    expect(await closed).toMatchObject({ reason: 'not_allowed', message: 'this record allows db:5432 only' });
    expect(await result).toEqual({ text: '', ended: false, error: 'ECONNRESET' });
  });

  it('destroys every local socket and stops when the tunnel dies', async () => {
    const { client } = tunnel(async () => echo);
    const l = await listener({ mux: client });
    const muxClosed = new Promise((resolve) => l.onMuxClosed((reason) => resolve(reason)));
    const reasons: string[] = [];
    l.onClose((e) => reasons.push(e.reason));
    const sockets = await Promise.all([dial(l.port), dial(l.port)]);
    const results = sockets.map(drain);
    while (l.connections().filter((c) => c.id !== undefined).length < 2) await new Promise((r) => setTimeout(r, 5));
    client.close('peer_timeout', 'gone');
    expect(await muxClosed).toBe('peer_timeout');
    for (const r of await Promise.all(results)) expect(r).toEqual({ text: '', ended: false, error: 'ECONNRESET' });
    expect(reasons).toEqual(['peer_timeout', 'peer_timeout']);
    await expect(dial(l.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
