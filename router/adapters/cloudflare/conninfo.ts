import type { Context } from 'hono';

/**
 * The client address on Cloudflare Workers: the edge sets `CF-Connecting-IP` on every request
 * and overwrites any value a client sent, so it is trusted as is. (`wrangler dev` sets it to
 * the local caller unless the request already carries one.) This is what `hono/cloudflare-workers`' getConnInfo reads; it is done here
 * directly because that export is deprecated ahead of Hono 5.
 */
export function cloudflareClientIp(c: Context): string {
  return c.req.header('cf-connecting-ip')?.trim() || 'unknown';
}
