import type { Context } from 'hono';
import type { DenoServeHandlerInfo } from './deno-api.ts';

/**
 * The client address as Deno.serve saw it: Hono hands the handler's second argument
 * (ServeHandlerInfo) to the app as `c.env`. This is what `hono/deno`'s getConnInfo reads; it is
 * done here directly because that export is deprecated ahead of Hono 5.
 * Behind a reverse proxy, set POSTERN_TRUST_PROXY=1 and the first X-Forwarded-For hop is used.
 */
export function denoClientIp(trustProxy: boolean): (c: Context) => string {
  return (c) => {
    if (trustProxy) {
      const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
      if (forwarded) return forwarded;
    }
    const info = c.env as Partial<DenoServeHandlerInfo> | undefined;
    const address = info?.remoteAddr?.hostname ?? 'unknown';
    return address.startsWith('::ffff:') ? address.slice(7) : address;
  };
}
