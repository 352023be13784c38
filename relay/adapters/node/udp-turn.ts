/**
 * The TURN server on Node's UDP sockets: one listening socket for clients, one relayed socket
 * per allocation (bound to the same host on an ephemeral port), and the once-a-second sweep that
 * expires allocations, permissions and channels. All TURN logic is in server/turn-server.ts;
 * this file only moves datagrams.
 *
 * Receive buffers are raised (4 MiB by default) because a relay's traffic is bursty and the
 * kernel default (about 200 KiB on Linux) drops datagrams under load; the kernel may cap the
 * request (net.core.rmem_max), which is not an error worth failing for.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { TransportAddressInput } from '../../stun/attributes.ts';
import { TurnServer, type RelaySocket, type TurnServerOptions } from '../../server/turn-server.ts';

export interface UdpTurnOptions extends Omit<TurnServerOptions, 'relaySockets'> {
  /** Address to listen on and to bind relayed sockets to. Default 127.0.0.1. */
  readonly host?: string | undefined;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly recvBufferBytes?: number | undefined;
  /** Sweep period; default 1000 ms. */
  readonly sweepIntervalMs?: number | undefined;
}

export interface UdpTurnServer {
  readonly server: TurnServer;
  /** Where clients reach the server. */
  readonly address: TransportAddressInput;
  close(): Promise<void>;
}

const DEFAULT_RECV_BUFFER = 4 * 1024 * 1024;

function bind(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function raiseBuffer(socket: Socket, bytes: number): void {
  try {
    socket.setRecvBufferSize(bytes);
  } catch {
    // Capped or refused by the kernel: run with what we have.
  }
}

function view(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

export async function startUdpTurnServer(options: UdpTurnOptions): Promise<UdpTurnServer> {
  const host = options.host ?? '127.0.0.1';
  const udp = host.includes(':') ? 'udp6' : 'udp4';
  const recvBuffer = options.recvBufferBytes ?? DEFAULT_RECV_BUFFER;
  const log = options.log ?? (() => {});

  const openRelay = async (onPacket: (bytes: Uint8Array, from: TransportAddressInput) => void): Promise<RelaySocket> => {
    const socket = createSocket(udp);
    await bind(socket, host, 0);
    raiseBuffer(socket, recvBuffer);
    // ICMP errors and the like: a relayed socket outlives one peer's unreachability.
    socket.on('error', (e) => log('warn', 'turn.relay_socket.error', { error: e.message }));
    socket.on('message', (msg, rinfo) => onPacket(view(msg), { address: rinfo.address, port: rinfo.port }));
    const { address, port } = socket.address();
    let closed = false;
    return {
      address: { address, port },
      send(bytes, peer) {
        if (!closed) socket.send(bytes, peer.port, peer.address);
      },
      close() {
        if (closed) return;
        closed = true;
        socket.close();
      },
    };
  };

  const server = new TurnServer({ ...options, relaySockets: openRelay });
  const listener = createSocket(udp);
  await bind(listener, host, options.port);
  raiseBuffer(listener, recvBuffer);
  listener.on('error', (e) => log('warn', 'turn.listener.error', { error: e.message }));
  listener.on('message', (msg, rinfo) => {
    const client = { address: rinfo.address, port: rinfo.port };
    const reply = (bytes: Uint8Array): void => listener.send(bytes, rinfo.port, rinfo.address);
    server.handleClientPacket({ client }, view(msg), reply).catch((e: unknown) => {
      log('warn', 'turn.bug', { error: e instanceof Error ? e.message : String(e) });
    });
  });
  const sweep = setInterval(() => server.sweep(), options.sweepIntervalMs ?? 1000);
  sweep.unref();
  const { address, port } = listener.address();

  return {
    server,
    address: { address, port },
    close: async () => {
      clearInterval(sweep);
      server.close();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
