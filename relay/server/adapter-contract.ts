/**
 * What an adapter (node:dgram in adapters/node/udp-turn.ts, node:net / node:tls in
 * adapters/node/stream-turn.ts, or anything else that moves bytes) hands the TURN server and
 * gets from it: the 5-tuple a client message came on, the relayed UDP sockets it opens on the
 * server's behalf, the callback that answers the client, and the log. On its own so that the
 * server (./turn-server.ts, which re-exports all of it) and its allocation table
 * (./allocations.ts) share one definition.
 */
import type { TransportAddressInput } from '../stun/attributes.ts';

/** How a client reaches the server. The relayed side is UDP whatever this is. */
export type ClientTransport = 'udp' | 'tcp' | 'tls';
export const CLIENT_TRANSPORTS: readonly ClientTransport[] = ['udp', 'tcp', 'tls'];

export type RelayFamily = 'ipv4' | 'ipv6';

/** The client side of a 5-tuple, and which listener it reached. */
export interface FiveTuple {
  readonly client: TransportAddressInput;
  /** Default 'udp'. */
  readonly transport?: ClientTransport | undefined;
  /** The listening port the client reached, so two listeners never share a 5-tuple. Default 0. */
  readonly serverPort?: number | undefined;
}

/** A relayed UDP socket, opened for one allocation and closed when it ends. */
export interface RelaySocket {
  /** The relayed transport address (what XOR-RELAYED-ADDRESS tells the client). */
  readonly address: TransportAddressInput;
  send(bytes: Uint8Array, peer: TransportAddressInput): void;
  close(): void;
}

/**
 * Opens a relayed UDP socket of the family asked for (only families listed in the server's
 * `relayFamilies` are asked for); `onPacket` is called for every datagram a peer sends to it.
 */
export type RelaySocketFactory = (onPacket: (bytes: Uint8Array, from: TransportAddressInput) => void, family: RelayFamily) => Promise<RelaySocket>;

/**
 * Sends one message back to the client of a 5-tuple. `kind` says whether it answers a request
 * ('control') or carries relayed data ('data'), so a stream adapter under back-pressure can shed
 * data first. Returning false means "refused: the client is not reading" (counted as
 * `client_backlog`); anything else means sent or queued.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a datagram reply returns nothing, a stream reply says whether it was buffered
export type Reply = (bytes: Uint8Array, kind: 'control' | 'data') => void | boolean;

export type TurnLog = (level: 'info' | 'warn', event: string, fields: Record<string, unknown>) => void;
