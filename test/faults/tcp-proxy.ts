/**
 * A TCP proxy the fault suite puts between a Postern part and a real dependency (PostgreSQL,
 * NATS, the Router), so a test can take the dependency away and give it back without touching
 * the shared server: `cut()` resets every open connection and refuses new ones, as a stopped or
 * failed-over server does; `blackhole()` accepts and forwards nothing, as a dead network path
 * does; `delay(ms)` adds latency to every chunk; `restore()` forwards again. Loopback only.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'cut' | 'blackhole';

export interface TcpProxy {
  /** host:port to give the part under test instead of the dependency's own. */
  readonly host: string;
  readonly port: number;
  mode(): ProxyMode;
  /** Resets every open connection and refuses (resets) new ones until restore(). */
  cut(): void;
  /** Keeps connections open but moves no byte either way until restore(); new ones hang too. */
  blackhole(): void;
  /** Adds `ms` of latency to every chunk in both directions (0 removes it). */
  delay(ms: number): void;
  restore(): void;
  /** Connections accepted since the start, and open now. */
  stats(): { accepted: number; open: number };
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  let delayMs = 0;
  let accepted = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket | null; held: Buffer[][] }>();

  const pipe = (from: Socket, to: () => Socket | null, held: Buffer[]) => {
    from.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole') {
        held.push(chunk);
        return;
      }
      const send = () => to()?.write(chunk);
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  };

  const server: Server = createServer((client) => {
    accepted += 1;
    if (mode === 'cut') {
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const pair = { client, upstream: null as Socket | null, held: [[], []] as Buffer[][] };
    pairs.add(pair);
    client.on('error', () => {});
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    pipe(client, () => upstream, pair.held[0]!);
    pipe(upstream, () => client, pair.held[1]!);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    mode: () => mode,
    cut() {
      mode = 'cut';
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.upstream?.resetAndDestroy();
      }
      pairs.clear();
    },
    blackhole() {
      mode = 'blackhole';
    },
    delay(ms: number) {
      delayMs = ms;
    },
    restore() {
      const wasBlackhole = mode === 'blackhole';
      mode = 'forward';
      if (wasBlackhole) {
        // What a healed path delivers late: the bytes sent while it was down.
        for (const pair of pairs) {
          for (const chunk of pair.held[0]!.splice(0)) pair.upstream?.write(chunk);
          for (const chunk of pair.held[1]!.splice(0)) pair.client.write(chunk);
        }
      }
    },
    stats: () => ({ accepted, open: pairs.size }),
    close: async () => {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
