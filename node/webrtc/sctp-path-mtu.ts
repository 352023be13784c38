/**
 * SCTP packetization-layer path MTU discovery (RFC 8899 §6.2.1) for a werift association:
 * find out whether the peer and the path accept SCTP packets larger than werift's fixed 1,228
 * bytes, and if so let the data channel send larger DATA chunks.
 *
 * The probe is a HEARTBEAT whose Heartbeat Info is padded to the probe size; the peer must echo
 * the info in a HEARTBEAT-ACK (RFC 4960 §8.3), so an acknowledgement proves that a packet of that
 * size crossed the path both ways and that the peer's stack took it. RFC 8899 pads with a PAD
 * chunk (RFC 4820) instead, but werift 0.24 rejects a packet with a chunk type it does not
 * know — from a handler whose rejection nobody catches, which ends a stock werift process —
 * whereas every SCTP stack echoes a heartbeat. A peer or path that drops the probe simply leaves
 * the association at the default size. Nothing is probed above the ceiling from ./path-mtu.ts.
 *
 * Effects once a size is confirmed (state kept on the association object):
 * - the data channel fragments messages into DATA chunks of `userDataMax(sctp)` bytes
 *   (werift-tuning's send-completion path reads it);
 * - congestion control counts in that packet size, as RFC 4960 §7.2 does in PMTU units:
 *   `adjustCongestionWindow` scales werift's 1,200-byte slow-start and congestion-avoidance
 *   steps and its 4 × 1,200 floor after a loss.
 */
import { crc32c } from 'werift';
import { DEFAULT_SCTP_PACKET, SCTP_DATA_OVERHEAD } from './path-mtu.ts';

/** werift's DATA chunk payload size (USERDATA_MAX_LENGTH). */
export const WERIFT_USER_DATA_MAX = DEFAULT_SCTP_PACKET - SCTP_DATA_OVERHEAD;

const HEARTBEAT = 4;
const HEARTBEAT_ACK = 5;
const HEARTBEAT_INFO = 1;
/** Marks our probe's Heartbeat Info (werift's own heartbeats carry a 4-byte time). */
const PROBE_MAGIC = Buffer.from('PSTNPMTU');
const PROBE_INFO_HEADER = PROBE_MAGIC.length + 8 + 4; // magic, nonce, size
/** Common header (12) + chunk header (4) + parameter header (4). */
const PROBE_OVERHEAD = 20;
/** RFC 4960 §8.3: an association in this state answers heartbeats. */
const ESTABLISHED = 4;

export interface PathMtuState {
  /** Confirmed SCTP packet size; DEFAULT_SCTP_PACKET until a probe is acknowledged. */
  packetBytes: number;
  /** The probe in flight, if any. */
  pending?: { nonce: Buffer; size: number; resolve(ok: boolean): void };
  /** Sizes tried, in order, with the outcome (for diagnostics and tests). */
  tried: { size: number; ok: boolean }[];
}

const KEY = '__posternPathMtu';

export function pathMtuState(sctp: any): PathMtuState | undefined {
  return sctp?.[KEY];
}

/** Bytes of user data per DATA chunk for this association. */
export function userDataMax(sctp: any): number {
  const state = pathMtuState(sctp);
  return state ? state.packetBytes - SCTP_DATA_OVERHEAD : WERIFT_USER_DATA_MAX;
}

/** The HEARTBEAT probe packet of exactly `size` bytes (a multiple of 4), checksummed. */
export function buildProbePacket(localPort: number, remotePort: number, verificationTag: number, nonce: Uint8Array, size: number): Buffer {
  if (size % 4 !== 0 || size < PROBE_OVERHEAD + PROBE_INFO_HEADER || size > 0xffff) throw new RangeError(`bad probe size ${size}`);
  const packet = Buffer.alloc(size); // zeroed: checksum field and the padding inside the info
  packet.writeUInt16BE(localPort, 0);
  packet.writeUInt16BE(remotePort, 2);
  packet.writeUInt32BE(verificationTag, 4);
  packet[12] = HEARTBEAT;
  packet.writeUInt16BE(size - 12, 14);
  packet.writeUInt16BE(HEARTBEAT_INFO, 16);
  packet.writeUInt16BE(size - 16, 18);
  PROBE_MAGIC.copy(packet, 20);
  packet.set(nonce.subarray(0, 8), 20 + PROBE_MAGIC.length);
  packet.writeUInt32BE(size, 20 + PROBE_MAGIC.length + 8);
  packet.writeUInt32LE(crc32c(packet), 8);
  return packet;
}

/**
 * If `chunk` (werift's parsed chunk) is the HEARTBEAT-ACK for the pending probe, settles it and
 * returns true; our probe acks are consumed here, anything else is left to werift.
 */
export function takeProbeAck(sctp: any, chunk: any): boolean {
  if (chunk?.type !== HEARTBEAT_ACK) return false;
  const info: Buffer | undefined = chunk.params?.find?.((p: [number, Buffer]) => p[0] === HEARTBEAT_INFO)?.[1];
  if (!info || info.length < PROBE_INFO_HEADER || !info.subarray(0, PROBE_MAGIC.length).equals(PROBE_MAGIC)) return false;
  const pending = pathMtuState(sctp)?.pending;
  const nonce = info.subarray(PROBE_MAGIC.length, PROBE_MAGIC.length + 8);
  // The echo must be whole: a stack that truncated the info did not carry the full size.
  if (pending && nonce.equals(pending.nonce) && info.length + PROBE_OVERHEAD === pending.size) pending.resolve(true);
  return true; // ours (maybe stale): werift has nothing to do with it
}

export interface DiscoveryOptions {
  /** Largest SCTP packet to try (from sctpPacketCeiling). */
  ceiling: number;
  /** How long to wait for each probe's echo. Default 600 ms. */
  timeoutMs?: number;
  /** Tries per size (RFC 8899 MAX_PROBES is 3; a loaded loopback rarely needs more than 2). */
  attempts?: number;
  /** Random bytes for nonces (crypto.getRandomValues by default). */
  random?: (n: number) => Uint8Array;
}

/** Probe sizes, largest first: the ceiling, then halvings, all above the default. */
export function probeSizes(ceiling: number): number[] {
  const sizes: number[] = [];
  for (let s = ceiling - (ceiling % 4); s > DEFAULT_SCTP_PACKET && sizes.length < 4; s = Math.floor(s / 2 / 4) * 4) sizes.push(s);
  return sizes;
}

/**
 * Runs the search once for an established association; resolves with the confirmed packet
 * size (DEFAULT_SCTP_PACKET if nothing larger was acknowledged). Never throws: a failure to
 * probe leaves the association as werift made it.
 */
export async function discoverPathMtu(sctp: any, options: DiscoveryOptions): Promise<number> {
  const state: PathMtuState = sctp[KEY] ?? (sctp[KEY] = { packetBytes: DEFAULT_SCTP_PACKET, tried: [] });
  const random = options.random ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const timeoutMs = options.timeoutMs ?? 600;
  const attempts = options.attempts ?? 2;
  for (const size of probeSizes(options.ceiling)) {
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (sctp.isStopped || sctp.associationState !== ESTABLISHED) return state.packetBytes;
      const nonce = Buffer.from(random(8));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const acked = new Promise<boolean>((resolve) => {
        state.pending = { nonce, size, resolve };
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        await sctp.transport.send(buildProbePacket(sctp.localPort, sctp.remotePort, sctp.remoteVerificationTag, nonce, size));
      } catch {
        state.pending?.resolve(false); // e.g. the DTLS transport closed meanwhile
      }
      const ok = await acked;
      clearTimeout(timer);
      state.pending = undefined;
      state.tried.push({ size, ok });
      if (ok) {
        confirm(sctp, state, size);
        return size;
      }
    }
  }
  return state.packetBytes;
}

function confirm(sctp: any, state: PathMtuState, size: number): void {
  state.packetBytes = size;
  // RFC 4960 §7.2.1 initial cwnd in the new packet size: min(4·MTU, max(2·MTU, 4380)).
  const initial = Math.min(4 * size, Math.max(2 * size, 4380));
  if (typeof sctp.cwnd === 'number' && sctp.cwnd < initial) sctp.cwnd = initial;
}

/** What `adjustCongestionWindow` needs from before werift processed a SACK. */
export interface SackSnapshot {
  cwnd: number;
  ssthresh: number;
  flightSize: number;
  inRecovery: boolean;
}

export function snapshotBeforeSack(sctp: any): SackSnapshot {
  return { cwnd: sctp.cwnd, ssthresh: sctp.ssthresh, flightSize: sctp.flightSize, inRecovery: sctp.fastRecoveryExit !== undefined };
}

/**
 * Called right after werift's receiveSackChunk ran its synchronous part (where it changes cwnd,
 * before it awaits anything): re-does werift's 1,200-byte steps in the confirmed packet size.
 */
export function adjustCongestionWindow(sctp: any, before: SackSnapshot): void {
  const state = pathMtuState(sctp);
  if (!state || state.packetBytes <= DEFAULT_SCTP_PACKET) return;
  const mtu = state.packetBytes;
  const grew = sctp.cwnd - before.cwnd;
  const lossNow = !before.inRecovery && sctp.fastRecoveryExit !== undefined;
  if (lossNow) {
    // werift: ssthresh = max(cwnd/2, 4·1200). RFC 4960 §7.2.3: max(cwnd/2, 4·MTU).
    sctp.ssthresh = Math.max(Math.floor(before.cwnd / 2), 4 * mtu);
    sctp.cwnd = sctp.ssthresh;
    return;
  }
  if (grew <= 0 || before.inRecovery) return;
  if (before.cwnd <= before.ssthresh) {
    // Slow start (§7.2.1): werift added min(bytes acked, 1200); the RFC adds min(bytes acked, MTU).
    // With no loss in this SACK, the flight shrank by exactly the bytes acknowledged.
    const acked = Math.max(grew, before.flightSize - sctp.flightSize);
    sctp.cwnd = before.cwnd + Math.min(acked, mtu);
  } else {
    // Congestion avoidance (§7.2.2): one MTU per cwnd of acknowledged data, not 1,200 bytes.
    sctp.cwnd = before.cwnd + mtu;
  }
}
