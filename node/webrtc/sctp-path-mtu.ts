/**
 * Postern's side of SCTP path MTU discovery (RFC 8899 §6.2.1) for a data channel: when and up
 * to which size to probe. The probing itself (padded HEARTBEATs, DATA chunks and congestion
 * control in the confirmed size) is werift's `SCTP.discoverPathMtu`, added by the patch
 * `patches/werift+0.24.4+013+sctp-path-mtu.patch` (docs/upstream/werift.md).
 *
 * Never automatic: the tunnel code calls `startSctpPathMtuDiscovery` once the channel is open,
 * with the size the peer declared in the sealed signalling (a Postern peer accepts one DTLS
 * record, POSTERN_SCTP_MAX_PACKET). Chromium 156 does not echo a 16 KiB probe and closes its
 * data channel (measured 2026-12-01), so a peer that declared nothing is never probed. The
 * ceiling is the smaller of that and what the path allows (./path-mtu.ts: the local link MTU
 * towards every hop, or POSTERN_WEBRTC_MAX_PACKET).
 */
import type { RTCPeerConnection } from 'werift';
import { DEFAULT_SCTP_PACKET, nodeHostNetwork, sctpPacketCeiling } from './path-mtu.ts';

const started = new WeakSet<object>();

/** werift's SCTP association of a peer connection (created with its first data channel). */
function associationOf(pc: RTCPeerConnection) {
  return pc.sctpTransport?.sctp;
}

/**
 * Probes the path of `pc`'s SCTP association up to `peerMaxPacket` (what the peer declared it
 * accepts) and switches to the largest size acknowledged. Resolves with the SCTP packet size in
 * use (DEFAULT_SCTP_PACKET when the peer declared nothing, the path gives no larger ceiling, no
 * probe was echoed, or werift is stock). Once per association; never rejects.
 */
export function startSctpPathMtuDiscovery(pc: RTCPeerConnection, peerMaxPacket: number | undefined): Promise<number> {
  const sctp = associationOf(pc);
  // Stock werift (test/bench/tunnel's "unpatched" row) has no discoverPathMtu.
  if (!sctp || !peerMaxPacket || !('discoverPathMtu' in sctp)) return Promise.resolve(DEFAULT_SCTP_PACKET);
  if (started.has(sctp)) return Promise.resolve(sctp.packetBytes);
  started.add(sctp);
  const ceiling = Math.min(pathCeiling(pc), peerMaxPacket);
  if (ceiling <= DEFAULT_SCTP_PACKET) return Promise.resolve(DEFAULT_SCTP_PACKET);
  return sctp.discoverPathMtu({ ceiling }).catch(() => DEFAULT_SCTP_PACKET);
}

/** The SCTP packet size `pc` sends with (after `startSctpPathMtuDiscovery`). */
export function sctpPacketBytes(pc: RTCPeerConnection): number {
  const sctp = associationOf(pc);
  return sctp && 'packetBytes' in sctp ? sctp.packetBytes : DEFAULT_SCTP_PACKET;
}

/** The ceiling for the association's selected ICE pair (see ./path-mtu.ts). */
function pathCeiling(pc: RTCPeerConnection): number {
  const connection = pc.sctpTransport?.dtlsTransport.iceTransport.connection;
  const pairs = connection?.candidatePairs ?? [];
  const pair = pairs.find((p) => p.nominated) ?? pairs.find((p) => p.state === 3); // 3 = SUCCEEDED
  const remoteAddress = pair?.remoteCandidate.host;
  if (!pair || typeof remoteAddress !== 'string') return DEFAULT_SCTP_PACKET;
  const viaTurn = pair.localCandidate.type === 'relay';
  const turnServer = viaTurn ? connection?.turnServer?.[0] : undefined;
  if (viaTurn && typeof turnServer !== 'string') return DEFAULT_SCTP_PACKET;
  const env = globalThis.process?.env;
  return sctpPacketCeiling({ remoteAddress, ...(turnServer !== undefined ? { turnServer } : {}) }, nodeHostNetwork(), env?.POSTERN_WEBRTC_MAX_PACKET);
}
