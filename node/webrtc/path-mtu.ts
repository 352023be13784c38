/**
 * How large an SCTP packet a data channel may try on its path: the ceiling that SCTP path MTU
 * discovery (./sctp-path-mtu.ts) probes up to.
 *
 * Why this exists: werift (like libwebrtc) sends at most 1,200 bytes of user data per packet,
 * a size that fits any Internet path. Every packet costs a DTLS record (an AES-GCM cipher
 * object), a CRC32c and a UDP send on each side, so on a path that carries larger datagrams —
 * the gateway and the client on one host, a jumbo-frame LAN — packet count, not bandwidth,
 * limits a tunnel. Larger packets are only safe where nothing fragments them: Node cannot set
 * the IP don't-fragment flag (IP_MTU_DISCOVER), so a datagram larger than the link MTU would be
 * split by the kernel, and one lost fragment loses the whole packet. Hence the ceiling comes
 * from the MTU of the local link that reaches every hop (the peer, and the TURN server when
 * the path goes through a relay); a hop that is not on a directly attached network (the
 * Internet) gives no ceiling above the default, and no probing happens. The probe itself
 * (a padded SCTP HEARTBEAT the peer must echo, RFC 8899 §6.2.1) then confirms the peer and
 * the rest of the path accept that size.
 *
 * `POSTERN_WEBRTC_MAX_PACKET` (bytes of SCTP packet, 1228–16384) overrides the ceiling, for an
 * administrator who knows the path (e.g. a jumbo-frame network behind a router).
 *
 * Node only (like werift): the host's interfaces come from `os`, link MTUs from
 * /sys/class/net (Linux), subnet membership from `net.BlockList`.
 */

import { readFileSync } from 'node:fs';
import { BlockList } from 'node:net';
import { networkInterfaces } from 'node:os';

/** werift's 1,200 bytes of user data + SCTP common header (12) + DATA chunk header (16). */
export const DEFAULT_SCTP_PACKET = 1228;
/** One DTLS record's plaintext at most (RFC 6347 → RFC 5246 §6.2.1: 2^14 bytes). */
export const MAX_SCTP_PACKET = 16384;
/** SCTP common header + DATA chunk header: what a packet carries besides user data. */
export const SCTP_DATA_OVERHEAD = 28;

/** DTLS 1.2 record header (13) + AES-GCM explicit nonce (8) + tag (16). */
const DTLS_OVERHEAD = 37;
const UDP_HEADER = 8;
/**
 * A TURN Send indication (20-byte header, XOR-PEER-ADDRESS for IPv6: 24, DATA header: 4, up to
 * 3 bytes of padding); ChannelData (4) is smaller. Either way the relay adds at most this much.
 */
const TURN_OVERHEAD = 52;

/** The parts of the host's network the ceiling needs (injectable for tests). */
export interface HostNetwork {
  /** Interfaces as `os.networkInterfaces()` returns them. */
  interfaces(): Record<string, readonly InterfaceAddress[] | undefined>;
  /** The link MTU of an interface, when the platform tells (Linux: /sys/class/net/NAME/mtu). */
  mtu(name: string): number | undefined;
  /** Whether `address` lies in `cidr` ("10.1.2.3/24", "fe80::1/64"). */
  inSubnet(address: string, cidr: string): boolean;
}

export interface InterfaceAddress {
  address: string;
  family: string | number;
  internal: boolean;
  cidr: string | null;
}

export interface PathDescription {
  /** The peer's address as our ICE pair sees it (for a relayed pair: the peer's relayed address). */
  remoteAddress: string;
  /** The TURN server our packets go to, when our side of the pair is a relay candidate. */
  turnServer?: string;
}

/**
 * The largest SCTP packet to probe on this path, or DEFAULT_SCTP_PACKET when none larger is
 * known to be safe. `override` is the raw POSTERN_WEBRTC_MAX_PACKET value, if any.
 */
export function sctpPacketCeiling(path: PathDescription, host: HostNetwork | undefined, override?: string): number {
  if (override !== undefined && override.trim() !== '') {
    const n = Number(override);
    if (Number.isInteger(n)) return clamp(n);
  }
  if (!host) return DEFAULT_SCTP_PACKET;
  const hops = path.turnServer === undefined ? [path.remoteAddress] : [path.turnServer, path.remoteAddress];
  let mtu = Infinity;
  for (const hop of hops) {
    const link = linkMtuTo(hop, host);
    if (link === undefined) return DEFAULT_SCTP_PACKET;
    mtu = Math.min(mtu, link);
  }
  const ipHeader = hops.some((h) => h.includes(':')) ? 40 : 20;
  return clamp(mtu - ipHeader - UDP_HEADER - DTLS_OVERHEAD - (path.turnServer === undefined ? 0 : TURN_OVERHEAD));
}

function clamp(n: number): number {
  return Math.max(DEFAULT_SCTP_PACKET, Math.min(MAX_SCTP_PACKET, n - (n % 4)));
}

const IPV4_LITERAL = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The MTU of the local link a datagram to `address` leaves on: the loopback interface for a
 * loopback address or one of this host's own addresses (Linux routes those over `lo`), the
 * interface whose subnet holds the address, or undefined (not an IP literal, or reached through
 * a router: the path MTU beyond it is unknown).
 */
export function linkMtuTo(address: string, host: HostNetwork): number | undefined {
  const bare = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const isV4 = IPV4_LITERAL.test(bare);
  if (!isV4 && !bare.includes(':')) return undefined;
  const interfaces = Object.entries(host.interfaces());
  const loopbackName = interfaces.find(([, addrs]) => addrs?.some((a) => a.internal))?.[0];
  const isLoopback = isV4 ? bare.startsWith('127.') : bare === '::1';
  const isOwn = interfaces.some(([, addrs]) => addrs?.some((a) => a.address === bare));
  if (isLoopback || isOwn) return loopbackName === undefined ? undefined : host.mtu(loopbackName);
  for (const [name, addrs] of interfaces) {
    for (const a of addrs ?? []) {
      if (a.internal || !a.cidr || a.cidr.includes(':') === isV4) continue;
      if (host.inSubnet(bare, a.cidr)) return host.mtu(name);
    }
  }
  return undefined;
}

/** The running host's network. */
const nodeHost: HostNetwork = {
  interfaces: () => networkInterfaces() as Record<string, InterfaceAddress[] | undefined>,
  // Read per association (an interface's MTU can change; the read is one small sysfs file).
  mtu(name) {
    if (!/^[\w.:@-]{1,64}$/.test(name)) return undefined;
    try {
      const n = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
      return Number.isInteger(n) && n > 0 ? n : undefined;
    } catch {
      return undefined; // not Linux, or the interface went away
    }
  },
  inSubnet(address, cidr) {
    const [base, prefix] = cidr.split('/');
    const type = address.includes(':') ? 'ipv6' : 'ipv4';
    try {
      const list = new BlockList();
      list.addSubnet(base!, Number(prefix), type);
      return list.check(address, type);
    } catch {
      return false;
    }
  },
};

export function nodeHostNetwork(): HostNetwork {
  return nodeHost;
}
