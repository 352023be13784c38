/**
 * The TURN server's UDP listener on node:dgram. `listenUdp` attaches a listening socket to an
 * existing TurnServer (relay-service.ts runs UDP, TCP and TLS listeners on one server);
 * `startUdpTurnServer` is the standalone form: a server, its relayed sockets on the same host,
 * one UDP listener and the once-a-second sweep. All TURN logic is in server/turn-server.ts;
 * this file only moves datagrams.
 */
import { createSocket } from 'node:dgram';
import type { TransportAddressInput } from '../../stun/attributes.ts';
import { TurnServer, type TurnLog, type TurnServerOptions } from '../../server/turn-server.ts';
import { bindUdp, bufferView, DEFAULT_RECV_BUFFER, nodeRelaySockets, raiseRecvBuffer, unmapIpv4 } from './relay-sockets.ts';

export interface UdpListenOptions {
  /** Address to listen on. Default 127.0.0.1. */
  readonly host?: string | undefined;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly recvBufferBytes?: number | undefined;
  readonly log?: TurnLog | undefined;
}

export interface TurnListener {
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** Where clients reach it. */
  readonly address: TransportAddressInput;
  close(): Promise<void>;
}

export async function listenUdp(server: TurnServer, options: UdpListenOptions): Promise<TurnListener> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const listener = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: host.includes(':') && host !== '::' });
  await bindUdp(listener, host, options.port);
  raiseRecvBuffer(listener, options.recvBufferBytes ?? DEFAULT_RECV_BUFFER);
  const { address, port } = listener.address();
  listener.on('error', (e) => log('warn', 'turn.listener.error', { error: e.message }));
  const bug = (e: unknown): void => log('warn', 'turn.bug', { error: e instanceof Error ? e.message : String(e) });
  listener.on('message', (msg, rinfo) => {
    const client = { address: unmapIpv4(rinfo.address), port: rinfo.port };
    const reply = (bytes: Uint8Array): void => listener.send(bytes, rinfo.port, rinfo.address);
    try {
      server.handleClientPacket({ client, transport: 'udp', serverPort: port }, bufferView(msg), reply)?.catch(bug);
    } catch (e) {
      bug(e);
    }
  });
  return {
    transport: 'udp',
    address: { address, port },
    close: () => new Promise<void>((resolve) => listener.close(() => resolve())),
  };
}

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

export async function startUdpTurnServer(options: UdpTurnOptions): Promise<UdpTurnServer> {
  const host = options.host ?? '127.0.0.1';
  const family = host.includes(':') ? 'ipv6' : 'ipv4';
  const relaySockets = nodeRelaySockets({ [family]: host }, { recvBufferBytes: options.recvBufferBytes, log: options.log });
  const server = new TurnServer({ ...options, ownAddresses: [host, ...(options.ownAddresses ?? [])], relaySockets, relayFamilies: [family] });
  const listener = await listenUdp(server, { host, port: options.port, recvBufferBytes: options.recvBufferBytes, log: options.log });
  const sweep = setInterval(() => server.sweep(), options.sweepIntervalMs ?? 1000);
  sweep.unref();
  return {
    server,
    address: listener.address,
    close: async () => {
      clearInterval(sweep);
      server.close();
      await listener.close();
    },
  };
}
