/**
 * Which peer addresses the relay may send to. A TURN relay that forwards to anything is a way
 * into the network it runs in (the cloud metadata service, the Router's own loopback ports, the
 * office LAN), so by default it refuses every address that is not globally routable: loopback,
 * private (RFC 1918, unique-local fc00::/7), link-local (incl. 169.254.169.254 and fd00:ec2::254
 * metadata), carrier-grade NAT, unspecified, multicast, broadcast, documentation and other
 * reserved ranges. NAT64 and 6to4 peers are judged by the IPv4 address they route to.
 * IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96) peers are refused outright, even when
 * the allow-list names the IPv4 inside: a dual-stack relayed socket would send them over IPv4,
 * past the family the allocation was made for. An administrator who needs the relay to reach,
 * say, 10.20.0.0/16 lists it in the allow-list; the allow-list wins over every other category.
 *
 * The relayed transport addresses of the server's own live allocations are allowed by the
 * server itself (server/turn-server.ts), address and port, not by this policy: that is how two
 * relayed candidates on one relay meet, and it opens nothing else on the relay host.
 *
 * Used when a client asks for a permission or a channel (CreatePermission, ChannelBind, Send):
 * the answer to a refused peer is 403 (Forbidden), RFC 8656 §9.
 *
 * The classification itself is core/net/ip-address.ts, shared with the gateway.
 */
import { categorise, embeddedIpv4, inCidr, parseCidr, parseIpAddress, type AddressCategory, type CidrRange } from '../../core/net/ip-address.ts';

const NAT64 = parseCidr('64:ff9b::/96');

export { categorise, parseCidr, type AddressCategory } from '../../core/net/ip-address.ts';

export interface PeerPolicy {
  /** Ranges the relay may reach even though they are not public (e.g. "10.20.0.0/16"). */
  allow: readonly CidrRange[];
}

export function peerPolicy(allow: readonly string[] = []): PeerPolicy {
  return { allow: allow.map(parseCidr) };
}

export type PeerDecision = { allowed: true; category: AddressCategory } | { allowed: false; category: AddressCategory; reason: string };

export function checkPeer(address: string, policy: PeerPolicy): PeerDecision {
  const bytes = parseIpAddress(address);
  const category = categorise(bytes);
  if (category === 'public') return { allowed: true, category };
  if (category === 'ipv4-mapped' || category === 'ipv4-compatible') {
    return { allowed: false, category, reason: `the relay does not forward to ${category} IPv6 addresses (${address}); use the IPv4 address itself` };
  }
  // A NAT64 address is where the translator delivers to its IPv4 address, so that address's
  // allow-list entry opens it too. A 6to4 address is judged by its IPv4 address but opened only
  // by an entry for itself: 6to4 needs a public IPv4 address, so one of a private range is bogus.
  const inner = inCidr(bytes, NAT64) ? embeddedIpv4(bytes) : null;
  const candidates = inner ? [bytes, inner] : [bytes];
  if (policy.allow.some((r) => candidates.some((b) => inCidr(b, r)))) return { allowed: true, category };
  return { allowed: false, category, reason: `the relay does not forward to ${category} addresses (${address}) unless they are on its allow-list` };
}

/** Whether an allow-list entry covers this address (the relay host's own addresses need one). */
export function allowListed(address: string, policy: PeerPolicy): boolean {
  const bytes = parseIpAddress(address);
  return policy.allow.some((r) => inCidr(bytes, r));
}
