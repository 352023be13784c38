/**
 * Which peer addresses the relay may send to. A TURN relay that forwards to anything is a way
 * into the network it runs in (the cloud metadata service, the Router's own loopback ports, the
 * office LAN), so by default it refuses every address that is not globally routable: loopback,
 * private (RFC 1918, unique-local fc00::/7), link-local (incl. 169.254.169.254 and fd00:ec2::254
 * metadata), carrier-grade NAT, unspecified, multicast, broadcast, documentation and other
 * reserved ranges. An administrator who needs the relay to reach, say, 10.20.0.0/16 lists it in
 * the allow-list; the allow-list wins over every category.
 *
 * Used when a client asks for a permission or a channel (CreatePermission, ChannelBind, Send):
 * the answer to a refused peer is 403 (Forbidden), RFC 8656 §9.
 */
import { PosternError } from '../../core/errors.ts';
import { parseIpAddress } from '../stun/attributes.ts';

export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'carrier-grade-nat'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'reserved';

interface Range {
  bytes: Uint8Array;
  prefix: number;
}

interface CategorisedRange extends Range {
  category: Exclude<AddressCategory, 'public'>;
}

/** "10.0.0.0/8", "fd00::/8", or a single address (a /32 or /128). */
export function parseCidr(text: string): Range {
  const [address, prefixText, extra] = text.trim().split('/');
  if (extra !== undefined || !address) throw new PosternError('bad_request', `"${text}" is not an address or an address/prefix`);
  const bytes = parseIpAddress(address);
  const max = bytes.length * 8;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    throw new PosternError('bad_request', `"${text}": the prefix length must be a whole number from 0 to ${max}`);
  }
  return { bytes, prefix };
}

function inRange(address: Uint8Array, range: Range): boolean {
  if (address.length !== range.bytes.length) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole]! & mask) === (range.bytes[whole]! & mask);
}

const range = (text: string, category: CategorisedRange['category']): CategorisedRange => ({ ...parseCidr(text), category });

// Most specific first: the metadata addresses sit inside link-local and unique-local ranges.
const RANGES: readonly CategorisedRange[] = [
  range('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack instance metadata
  range('fd00:ec2::254/128', 'metadata'), // AWS IPv6 instance metadata
  range('100.100.100.200/32', 'metadata'), // Alibaba Cloud instance metadata
  range('0.0.0.0/8', 'unspecified'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'carrier-grade-nat'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'reserved'),
  range('192.0.2.0/24', 'documentation'),
  range('192.88.99.0/24', 'reserved'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'reserved'), // benchmarking
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('64:ff9b:1::/48', 'reserved'), // local-use NAT64
  range('100::/64', 'reserved'), // discard-only
  range('2001::/23', 'reserved'), // IETF protocol assignments
  range('2001:db8::/32', 'documentation'),
  range('fc00::/7', 'private'), // unique local
  range('fe80::/10', 'link-local'),
  range('ff00::/8', 'multicast'),
];

/**
 * The category of an IPv4 or IPv6 address. IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible and
 * NAT64 (64:ff9b::/96) addresses are judged by the IPv4 address inside, so a mapped form of
 * 127.0.0.1 is loopback too.
 */
export function categorise(address: string | Uint8Array): AddressCategory {
  let bytes = typeof address === 'string' ? parseIpAddress(address) : address;
  if (bytes.length === 16) {
    const embedded = embeddedIpv4(bytes);
    if (embedded) bytes = embedded;
  }
  for (const r of RANGES) if (inRange(bytes, r)) return r.category;
  return 'public';
}

function embeddedIpv4(bytes: Uint8Array): Uint8Array | null {
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
  // ::ffff:a.b.c.d (mapped)
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.subarray(12);
  // ::a.b.c.d (deprecated compatible), but not :: and ::1
  if (zeros(0, 12) && !zeros(12, 15)) return bytes.subarray(12);
  // 64:ff9b::a.b.c.d (well-known NAT64 prefix)
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) return bytes.subarray(12);
  return null;
}

export interface PeerPolicy {
  /** Ranges the relay may reach even though they are not public (e.g. "10.20.0.0/16"). */
  allow: readonly Range[];
}

export function peerPolicy(allow: readonly string[] = []): PeerPolicy {
  return { allow: allow.map(parseCidr) };
}

export type PeerDecision = { allowed: true; category: AddressCategory } | { allowed: false; category: AddressCategory; reason: string };

export function checkPeer(address: string, policy: PeerPolicy): PeerDecision {
  const bytes = parseIpAddress(address);
  const category = categorise(bytes);
  if (category === 'public') return { allowed: true, category };
  const candidates = bytes.length === 16 ? [bytes, embeddedIpv4(bytes)].filter((b): b is Uint8Array => b !== null) : [bytes];
  if (policy.allow.some((r) => candidates.some((b) => inRange(b, r)))) return { allowed: true, category };
  return { allowed: false, category, reason: `the relay does not forward to ${category} addresses (${address}) unless they are on its allow-list` };
}
