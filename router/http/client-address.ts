/**
 * The client address of a request, for every runtime adapter: the socket peer, unless that peer
 * is one of the operator's trusted proxies (`postern server start --trusted-proxy CIDR`); then
 * the right-most X-Forwarded-For hop that is not itself a trusted proxy. Each proxy appends the
 * address it saw, so hops to the right of the first untrusted one were written by proxies we
 * trust, and everything to its left was written by the client and may be anything.
 */
import { embeddedIpv4, formatIpAddress, inCidr, parseCidr, tryParseIpAddress, type CidrRange } from '../../core/net/ip-address.ts';
import { PosternError } from '../../core/errors.ts';

/** Parses `--trusted-proxy` values; a bad one is a usage error naming it. */
export function parseTrustedProxies(values: readonly string[]): CidrRange[] {
  return values.map((value) => {
    try {
      return parseCidr(value);
    } catch {
      throw new PosternError('bad_request', `--trusted-proxy ${JSON.stringify(value)} is not an address or CIDR range (e.g. 10.0.0.0/8, 192.0.2.7, fd00::/8).`);
    }
  });
}

/** Address bytes as the Router compares and records them: an IPv4-mapped IPv6 address is its IPv4 address. */
function normalise(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return embeddedIpv4(bytes)!;
  return bytes;
}

/** One X-Forwarded-For hop: an address, possibly bracketed or with a port as some proxies write it. */
function parseHop(hop: string): Uint8Array | undefined {
  let text = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) text = bracketed[1]!;
  else if (/^[0-9.]+:\d{1,5}$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  const bytes = tryParseIpAddress(text);
  return bytes ? normalise(bytes) : undefined;
}

function trusted(bytes: Uint8Array, proxies: readonly CidrRange[]): boolean {
  return proxies.some((range) => inCidr(bytes, range));
}

/**
 * `peer`: the socket's remote address. `forwardedFor`: the X-Forwarded-For header (all of its
 * values). Without trusted proxies, or from a peer that is not one, the header is ignored.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | readonly string[] | undefined, proxies: readonly CidrRange[]): string {
  const peerBytes = peer ? tryParseIpAddress(peer) : undefined;
  if (!peerBytes) return peer && peer.length <= 64 ? peer : 'unknown';
  let current = normalise(peerBytes);
  if (proxies.length === 0 || forwardedFor === undefined || !trusted(current, proxies)) return formatIpAddress(current);
  const hops = (typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor).join(',').split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseHop(hops[i]!);
    // A hop that is no address was not written by a proxy we trust: stop at the last one that was.
    if (!hop) break;
    current = hop;
    if (!trusted(hop, proxies)) break;
  }
  return formatIpAddress(current);
}
