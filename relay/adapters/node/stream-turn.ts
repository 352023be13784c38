/**
 * TURN over TCP and over TLS (RFC 8656 §3.1): the client↔server leg is a stream, the relayed
 * leg stays UDP. Each connection is one 5-tuple; TurnStreamFramer (stun/channel-data.ts) cuts
 * its bytes into STUN messages and ChannelData frames (padded to 4 over streams) and hands them
 * to the same runtime-neutral TurnServer as the UDP listener. A connection whose stream cannot
 * be framed (garbage, a bad header, an oversized frame) is closed at once: a stream out of step
 * cannot be resynchronised. Closing a connection ends its allocation.
 *
 * A client that does not read (bounded buffering): what the server writes to a connection
 * queues in the socket. Past `maxQueuedBytes` (default 1 MiB) relayed data to that client is
 * dropped, as the UDP network would drop it (the relayed traffic is datagrams: DTLS/SCTP above
 * retransmits), and counted as `client_backlog`; answers to requests are still queued. Past
 * `closeQueuedBytes` (default 4 MiB: only a client that keeps sending requests and never reads
 * gets there) the connection is closed. So one connection never holds more than about
 * closeQueuedBytes + one framer buffer (64 KiB) of memory.
 *
 * Connections are capped (`maxConnections`, default 4096) and a connection with no traffic
 * either way for `idleTimeoutMs` (default 15 min, above the 10-minute refresh a client sends)
 * is closed. TLS handshakes that do not finish in 10 s are dropped (node:tls handshakeTimeout).
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { TurnStreamFramer } from '../../stun/channel-data.ts';
import type { TurnLog, TurnServer } from '../../server/turn-server.ts';
import { bufferView, unmapIpv4 } from './relay-sockets.ts';
import type { TurnListener } from './udp-turn.ts';

export interface StreamListenOptions {
  /** Default 127.0.0.1. */
  readonly host?: string | undefined;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** PEM certificate chain and private key: TLS (turns:) instead of plain TCP. */
  readonly tls?: { readonly cert: string | Uint8Array; readonly key: string | Uint8Array } | undefined;
  readonly maxQueuedBytes?: number | undefined;
  readonly closeQueuedBytes?: number | undefined;
  readonly maxConnections?: number | undefined;
  readonly idleTimeoutMs?: number | undefined;
  readonly log?: TurnLog | undefined;
}

export interface StreamListenerStats {
  /** Open connections. */
  readonly connections: number;
  readonly accepted: number;
  /** Connections closed because their stream could not be framed. */
  readonly closedMalformed: number;
  /** Connections closed because they stopped reading (closeQueuedBytes). */
  readonly closedSlow: number;
  readonly closedIdle: number;
}

export interface StreamTurnListener extends TurnListener {
  readonly transport: 'tcp' | 'tls';
  stats(): StreamListenerStats;
}

export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;
export const DEFAULT_CLOSE_QUEUED_BYTES = 4 * 1024 * 1024;

export async function listenStream(server: TurnServer, options: StreamListenOptions): Promise<StreamTurnListener> {
  const host = options.host ?? '127.0.0.1';
  const transport = options.tls ? 'tls' : 'tcp';
  const log = options.log ?? (() => {});
  const maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  const closeQueued = Math.max(options.closeQueuedBytes ?? DEFAULT_CLOSE_QUEUED_BYTES, maxQueued);
  const idleMs = options.idleTimeoutMs ?? 15 * 60_000;
  const open = new Set<Socket>();
  let accepted = 0;
  let closedMalformed = 0;
  let closedSlow = 0;
  let closedIdle = 0;
  let serverPort = 0;
  const bug = (e: unknown): void => log('warn', 'turn.bug', { error: e instanceof Error ? e.message : String(e) });

  const onConnection = (socket: Socket): void => {
    accepted++;
    const address = socket.remoteAddress === undefined ? undefined : unmapIpv4(socket.remoteAddress);
    const port = socket.remotePort;
    if (address === undefined || port === undefined) {
      socket.destroy();
      return;
    }
    open.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(idleMs);
    const tuple = { client: { address, port }, transport, serverPort } as const;
    const framer = new TurnStreamFramer();

    const reply = (bytes: Uint8Array, kind: 'control' | 'data'): boolean => {
      if (socket.destroyed || !socket.writable) throw new Error('connection closed');
      const queued = socket.writableLength;
      if (queued > closeQueued) {
        closedSlow++;
        log('info', 'turn.stream.closed', { transport, reason: 'slow_client', queued });
        socket.destroy();
        return false;
      }
      if (kind === 'data' && queued > maxQueued) return false;
      socket.write(bytes);
      return true;
    };

    socket.on('data', (chunk: Buffer) => {
      let frames: ReturnType<typeof framer.push>;
      try {
        frames = framer.push(bufferView(chunk));
      } catch (e) {
        closedMalformed++;
        log('info', 'turn.stream.closed', { transport, reason: 'malformed', error: e instanceof Error ? e.message : String(e) });
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        try {
          server.handleClientPacket(tuple, frame.bytes, reply)?.catch(bug);
        } catch (e) {
          bug(e);
        }
      }
    });
    socket.on('timeout', () => {
      closedIdle++;
      socket.destroy();
    });
    // Resets and the like: the 'close' that follows does the cleanup.
    socket.on('error', () => {});
    socket.on('close', () => {
      open.delete(socket);
      server.closeTuple(tuple);
    });
  };

  let listener: Server;
  if (options.tls) {
    const tls = createTlsServer(
      { cert: toBuffer(options.tls.cert), key: toBuffer(options.tls.key), minVersion: 'TLSv1.2', handshakeTimeout: 10_000 },
      onConnection,
    );
    tls.on('tlsClientError', (e) => log('info', 'turn.tls.handshake_failed', { error: e.message }));
    listener = tls;
  } else {
    listener = createTcpServer(onConnection);
  }
  listener.maxConnections = options.maxConnections ?? 4096;
  listener.on('error', (e) => log('warn', 'turn.listener.error', { transport, error: e.message }));
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    listener.once('error', onError);
    listener.listen({ host, port: options.port, ipv6Only: host.includes(':') && host !== '::' }, () => {
      listener.off('error', onError);
      resolve();
    });
  });
  const bound = listener.address();
  if (bound === null || typeof bound === 'string') throw new Error('stream listener has no address');
  serverPort = bound.port;

  return {
    transport,
    address: { address: bound.address, port: bound.port },
    stats: () => ({ connections: open.size, accepted, closedMalformed, closedSlow, closedIdle }),
    close: async () => {
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const s of open) s.destroy();
      await closed;
    },
  };
}

function toBuffer(pem: string | Uint8Array): Buffer {
  return typeof pem === 'string' ? Buffer.from(pem) : Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength);
}
