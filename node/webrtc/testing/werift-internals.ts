/**
 * Typed views of the werift internals that tests and benchmarks read or wrap: private fields,
 * and runtime types narrower than werift's declarations (which give `IceConnection` and
 * `Protocol` interfaces without the transport). Only the members used are listed; the names
 * are werift 0.24.4's, patched and stock alike (lib/ice/src/ice.d.ts, lib/ice/src/stun/protocol.d.ts,
 * lib/common/src/transport.d.ts, lib/sctp/src/sctp.d.ts, lib/sctp/src/chunk.d.ts).
 *
 * Cast through `unknown`: `pc as unknown as WeriftPeerInternals`.
 */
import type { Socket } from 'node:dgram';

/** werift's UdpTransport: the node:dgram socket behind a host candidate. */
export interface WeriftUdpTransportInternals {
  readonly socket: Socket;
}

/** werift's StunProtocol (one per gathered host address; no TURN or ICE-TCP in these tests). */
export interface WeriftStunProtocolInternals {
  transport: WeriftUdpTransportInternals;
}

/** werift's ice Connection (RTCIceTransport.connection). */
export interface WeriftIceConnectionInternals {
  /** Address, `[host, port]`; undefined when no STUN server is configured. */
  stunServer?: readonly [string, number];
  /** Private in werift: the protocols (sockets) gathering opened. */
  protocols: WeriftStunProtocolInternals[];
  /** The selected candidate pair, once ICE has nominated one. */
  nominated?: { protocol: WeriftStunProtocolInternals };
}

/** A chunk as werift's SCTP.sendChunk gets it; DATA chunks (type 0) also carry sentCount. */
export interface WeriftSctpChunk {
  readonly type: number;
  sentCount?: number;
}

/** werift's SCTP association (RTCSctpTransport.sctp); all but sendChunk and outboundQueue are private. */
export interface WeriftSctpInternals {
  sendChunk(chunk: WeriftSctpChunk): Promise<void>;
  /** T3-rtx expiry; an instance property (an arrow function), so it can be wrapped per instance. */
  timer3Expired: () => void;
  cwnd: number;
  flightSize: number;
  outboundQueue: unknown[];
  sentQueue: unknown[];
  readonly peerRwnd: number;
  /** Seconds; undefined until the first RTT measurement. */
  srtt?: number;
  /** Seconds. */
  rto: number;
}

/** werift's RTCPeerConnection, with the internals above. */
export interface WeriftPeerInternals {
  readonly iceTransports: { connection: WeriftIceConnectionInternals }[];
  readonly sctpTransport?: { sctp: WeriftSctpInternals };
}
