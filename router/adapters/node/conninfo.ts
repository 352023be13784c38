import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { CidrRange } from '../../../core/net/ip-address.ts';
import { clientAddress } from '../../http/client-address.ts';

/**
 * The client address as the socket sees it; behind reverse proxies named with
 * `postern server start --trusted-proxy CIDR`, the right-most X-Forwarded-For hop that is not
 * one of them (router/http/client-address.ts).
 */
export function nodeClientIp(trustedProxies: readonly CidrRange[]): (c: Context) => string {
  return (c) => clientAddress(getConnInfo(c).remote.address, c.req.header('x-forwarded-for'), trustedProxies);
}
