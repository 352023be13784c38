/**
 * Relayed UDP sockets on node:dgram (the server's RelaySocketFactory): one socket per
 * allocation and family, bound to the relay address of that family on an ephemeral port.
 *
 * Receive buffers are raised (4 MiB by default) because a relay's traffic is bursty and the
 * kernel default (about 200 KiB on Linux) drops datagrams under load; the kernel may cap the
 * request (net.core.rmem_max), which is not an error worth failing for.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { TransportAddressInput } from '../../stun/attributes.ts';
import type { RelayFamily, RelaySocket, RelaySocketFactory, TurnLog } from '../../server/turn-server.ts';

export const DEFAULT_RECV_BUFFER = 4 * 1024 * 1024;

export interface RelayAddresses {
  /** The IPv4 address relayed sockets bind to (and XOR-RELAYED-ADDRESS names). */
  readonly ipv4?: string | undefined;
  /** The IPv6 one; without it the relay answers requests for IPv6 with 440. */
  readonly ipv6?: string | undefined;
}

export function bindUdp(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

export function raiseRecvBuffer(socket: Socket, bytes: number): void {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    // Capped or refused by the kernel: run with what we have.
  }
}

export function bufferView(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * "::ffff:192.0.2.1" → "192.0.2.1": a dual-stack listener (host "::") sees IPv4 clients in the
 * mapped form, but they are IPv4 clients (XOR-MAPPED-ADDRESS must say so).
 */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The families a set of relay addresses gives, for TurnServerOptions.relayFamilies. */
export function relayFamilies(addresses: RelayAddresses): RelayFamily[] {
  return (['ipv4', 'ipv6'] as const).filter((f) => addresses[f] !== undefined);
}

export function nodeRelaySockets(
  addresses: RelayAddresses,
  options: { recvBufferBytes?: number | undefined; log?: TurnLog | undefined } = {},
): RelaySocketFactory {
  const recvBuffer = options.recvBufferBytes ?? DEFAULT_RECV_BUFFER;
  const log = options.log ?? (() => {});
  return async (onPacket: (bytes: Uint8Array, from: TransportAddressInput) => void, family: RelayFamily): Promise<RelaySocket> => {
    const host = addresses[family];
    if (host === undefined) throw new Error(`no ${family} relay address configured`);
    const socket = createSocket({ type: family === 'ipv6' ? 'udp6' : 'udp4', ipv6Only: family === 'ipv6' });
    try {
      await bindUdp(socket, host, 0);
    } catch (e) {
      socket.close();
      throw e;
    }
    raiseRecvBuffer(socket, recvBuffer);
    // ICMP errors and the like: a relayed socket outlives one peer's unreachability.
    socket.on('error', (e) => log('warn', 'turn.relay_socket.error', { error: e.message }));
    socket.on('message', (msg, rinfo) => onPacket(bufferView(msg), { address: rinfo.address, port: rinfo.port }));
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
}
