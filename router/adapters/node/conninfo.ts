import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/**
 * The client address as the socket sees it. Behind a reverse proxy, set
 * POSTERN_TRUST_PROXY=1 and the first X-Forwarded-For hop is used instead.
 */
export function nodeClientIp(trustProxy: boolean): (c: Context) => string {
  return (c) => clientAddress(trustProxy ? c.req.header('x-forwarded-for') : undefined, getConnInfo(c).remote.address);
}

/**
 * The first X-Forwarded-For hop when one is given (pass it only when the proxy is trusted),
 * otherwise the socket's address, IPv4-mapped IPv6 written as plain IPv4.
 */
export function clientAddress(forwardedFor: string | undefined, socketAddress: string | undefined): string {
  const forwarded = forwardedFor?.split(',')[0]?.trim();
  if (forwarded) return forwarded;
  const address = socketAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
