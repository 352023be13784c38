/**
 * IP address text and classification, shared by the Relay (which peers it may relay to) and the
 * gateway (which targets it may dial). Pure TypeScript: runs on every runtime core runs on.
 *
 * Addresses are 4 bytes (IPv4) or 16 bytes (IPv6). parseIpAddress accepts any valid spelling (no
 * zone ids, no leading zeros in a dotted quad, no hostnames); formatIpAddress produces the RFC
 * 5952 canonical one, so equal addresses compare equal as strings.
 *
 * Classification answers "is this globally routable, and if not, what is it": a relay or gateway
 * that forwards to anything is a way into the network it runs in (the cloud metadata service,
 * loopback services, the office LAN). IPv6 forms that carry an IPv4 address on the wire are
 * judged by it where the wire really goes there: NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 * IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96) addresses are their own categories:
 * on a dual-stack socket the first silently becomes IPv4 and the second is deprecated, so a
 * policy refuses them outright instead of trusting the embedded address (see
 * docs/decisions/0002-relay-peer-policy.md). isMetadataAddress still looks inside them, since a
 * process dialling "::ffff:169.254.169.254" reaches the metadata service.
 */
import { PosternError } from '../errors.ts';

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
  | 'reserved'
  | 'ipv4-mapped'
  | 'ipv4-compatible';

/** An address prefix: `bytes` (4 or 16) and how many leading bits of it count. */
export interface CidrRange {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

// ---------------------------------------------------------------------------------------------
// text ↔ bytes
// ---------------------------------------------------------------------------------------------

const IPV4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!IPV4_PART.test(parts[i]!)) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45) return undefined; // the longest form, ffff:…:ffff:255.255.255.255
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return undefined;
  const head = gap === -1 ? groups(text) : groups(text.slice(0, gap));
  const tail = gap === -1 ? [] : groups(text.slice(gap + 2));
  const words: number[] = [];
  const tailWords: number[] = [];
  const all = [...head.map((g) => [g, words] as const), ...tail.map((g) => [g, tailWords] as const)];
  // A dotted quad may only be the very last group ("::ffff:1.2.3.4", not "1.2.3.4::").
  const lastIsFinal = gap === -1 || tail.length > 0;
  for (let i = 0; i < all.length; i++) {
    const [group, into] = all[i]!;
    if (i === all.length - 1 && lastIsFinal && group.includes('.')) {
      const v4 = parseIpv4(group);
      if (!v4) return undefined;
      into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!IPV6_GROUP.test(group)) return undefined;
      into.push(parseInt(group, 16));
    }
  }
  const count = words.length + tailWords.length;
  if (gap === -1 ? count !== 8 : count > 7) return undefined;
  const all16 = [...words, ...new Array<number>(8 - count).fill(0), ...tailWords];
  const out = new Uint8Array(16);
  all16.forEach((w, i) => {
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Like parseIpAddress, but undefined for text that is no address (a hostname, say). */
export function tryParseIpAddress(text: string): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** 4 bytes for IPv4 text, 16 for IPv6 text. Throws PosternError('bad_request') otherwise. */
export function parseIpAddress(text: string): Uint8Array {
  const bytes = tryParseIpAddress(text);
  if (!bytes) throw new PosternError('bad_request', `not an IPv4 or IPv6 address: ${JSON.stringify(String(text).slice(0, 64))}`);
  return bytes;
}

/** Canonical text for 4 or 16 address bytes (RFC 5952 for IPv6). */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new PosternError('bad_request', `an IP address is 4 or 16 bytes, got ${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // RFC 5952 §4.2: "::" replaces the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/** Canonical text of any accepted spelling: canonicalIpAddress("2001:DB8:0:0::1") === "2001:db8::1". */
export function canonicalIpAddress(text: string): string {
  return formatIpAddress(parseIpAddress(text));
}

// ---------------------------------------------------------------------------------------------
// prefixes
// ---------------------------------------------------------------------------------------------

/** "10.0.0.0/8", "fd00::/8", or a single address (a /32 or /128). */
export function parseCidr(text: string): CidrRange {
  const [address, prefixText, extra] = String(text).trim().split('/');
  if (extra !== undefined || !address) throw new PosternError('bad_request', `"${text}" is not an address or an address/prefix`);
  const bytes = parseIpAddress(address);
  const max = bytes.length * 8;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    throw new PosternError('bad_request', `"${text}": the prefix length must be a whole number from 0 to ${max}`);
  }
  return { bytes, prefix };
}

/** Whether `address` lies in `range`; an address of the other family never does. */
export function inCidr(address: Uint8Array, range: CidrRange): boolean {
  if (address.length !== range.bytes.length) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole]! & mask) === (range.bytes[whole]! & mask);
}

// ---------------------------------------------------------------------------------------------
// classification
// ---------------------------------------------------------------------------------------------

type Special = Exclude<AddressCategory, 'public'>;
interface CategorisedRange extends CidrRange {
  readonly category: Special;
}

const range = (text: string, category: Special): CategorisedRange => ({ ...parseCidr(text), category });

/** The special ranges, most specific first: the metadata addresses sit inside link-local and unique-local ranges. */
export const RANGES: readonly CategorisedRange[] = [
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
  range('::ffff:0:0/96', 'ipv4-mapped'),
  range('::/96', 'ipv4-compatible'),
  range('64:ff9b:1::/48', 'reserved'), // local-use NAT64
  range('100::/64', 'reserved'), // discard-only
  range('2001::/23', 'reserved'), // IETF protocol assignments (Teredo among them)
  range('2001:db8::/32', 'documentation'),
  range('fc00::/7', 'private'), // unique local
  range('fe80::/10', 'link-local'),
  range('ff00::/8', 'multicast'),
];

const NAT64 = parseCidr('64:ff9b::/96');
const SIX_TO_FOUR = parseCidr('2002::/16');
const MAPPED = parseCidr('::ffff:0:0/96');
const COMPATIBLE = parseCidr('::/96');

/**
 * The IPv4 address a packet to this IPv6 address is delivered to by a translator on the way:
 * NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::/48, bits 16–48). Null for any other address.
 */
export function routedIpv4(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length !== 16) return null;
  if (inCidr(bytes, NAT64)) return bytes.subarray(12, 16);
  if (inCidr(bytes, SIX_TO_FOUR)) return bytes.subarray(2, 6);
  return null;
}

/**
 * Every IPv4 address this IPv6 address carries, in any of the forms a stack or translator may
 * act on: mapped, compatible, NAT64, 6to4. Null for an IPv4 address or a plain IPv6 one.
 */
export function embeddedIpv4(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length !== 16) return null;
  const routed = routedIpv4(bytes);
  if (routed) return routed;
  if (inCidr(bytes, MAPPED)) return bytes.subarray(12, 16);
  // Not "::" and "::1", which are their own addresses.
  if (inCidr(bytes, COMPATIBLE) && (bytes[12]! | bytes[13]! | bytes[14]!) !== 0) return bytes.subarray(12, 16);
  return null;
}

/**
 * The category of an IPv4 or IPv6 address (bytes or text). NAT64 and 6to4 addresses are judged
 * by the IPv4 address they route to; IPv4-mapped and IPv4-compatible ones are 'ipv4-mapped' and
 * 'ipv4-compatible', never 'public'.
 */
export function categorise(address: string | Uint8Array): AddressCategory {
  const bytes = typeof address === 'string' ? parseIpAddress(address) : address;
  const judged = routedIpv4(bytes) ?? bytes;
  for (const r of RANGES) if (inCidr(judged, r)) return r.category;
  return 'public';
}

/**
 * Whether this address text reaches a cloud instance metadata service, in any spelling a socket
 * would act on (also ::ffff:169.254.169.254, 64:ff9b::a9fe:a9fe, 2002:a9fe:a9fe::). Text that is
 * no IP address (a hostname) is false: resolve it first and ask about each resolved address,
 * since a resolver also accepts forms such as "2852039166" or "0xa9fea9fe".
 */
export function isMetadataAddress(text: string): boolean {
  const bytes = tryParseIpAddress(text);
  if (!bytes) return false;
  if (categorise(bytes) === 'metadata') return true;
  const inner = embeddedIpv4(bytes);
  return inner !== null && categorise(inner) === 'metadata';
}
