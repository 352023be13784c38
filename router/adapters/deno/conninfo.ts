import type { Context } from 'hono';
import type { CidrRange } from '../../../core/net/ip-address.ts';
import { clientAddress } from '../../http/client-address.ts';
import type { DenoServeHandlerInfo } from './deno-api.ts';

/**
 * The client address as Deno.serve saw it: Hono hands the handler's second argument
 * (ServeHandlerInfo) to the app as `c.env`. This is what `hono/deno`'s getConnInfo reads; it is
 * done here directly because that export is deprecated ahead of Hono 5.
 * Behind reverse proxies named in POSTERN_TRUSTED_PROXIES, the right-most X-Forwarded-For hop
 * that is not one of them (router/http/client-address.ts).
 */
export function denoClientIp(trustedProxies: readonly CidrRange[]): (c: Context) => string {
  return (c) => {
    const info = c.env as Partial<DenoServeHandlerInfo> | undefined;
    return clientAddress(info?.remoteAddr?.hostname, c.req.header('x-forwarded-for'), trustedProxies);
  };
}
