/**
 * The sticky session of a scaled-out Router: each vault API response of a Worker carries a
 * cookie naming that Worker, which the load balancer in front of the Workers routes on, so a
 * vault keeps talking to the same Worker. As in the seed it expires after 7 days and holds no
 * secret: the value is the Worker id and nothing else (no session, no signature, no key).
 */
import type { MiddlewareHandler } from 'hono';

export const STICKY_COOKIE = 'postern_worker';
export const STICKY_MAX_AGE_S = 7 * 24 * 60 * 60;

/** Worker ids travel in cookies and NATS subjects: letters, digits, `_` and `-` only. */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The Set-Cookie value for a Worker; `secure` when the vault reached it over https. */
export function stickyCookie(workerId: string, secure: boolean): string {
  if (!WORKER_ID_PATTERN.test(workerId)) throw new Error(`Worker id ${JSON.stringify(workerId)} is not usable in a cookie (letters, digits, _ and - only).`);
  return `${STICKY_COOKIE}=${workerId}; Max-Age=${STICKY_MAX_AGE_S}; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** https directly, or behind a TLS-terminating proxy that says so. Only decides the Secure flag. */
function reachedOverHttps(url: string, forwardedProto: string | undefined): boolean {
  if (forwardedProto?.split(',')[0]?.trim().toLowerCase() === 'https') return true;
  return url.startsWith('https:');
}

/** Middleware: add the sticky cookie to every response below it (successes and errors alike). */
export function stickyWorkerCookie(workerId: string): MiddlewareHandler {
  const plain = stickyCookie(workerId, false);
  const secure = stickyCookie(workerId, true);
  return async (c, next) => {
    await next();
    const value = reachedOverHttps(c.req.url, c.req.header('x-forwarded-proto')) ? secure : plain;
    try {
      c.res.headers.append('Set-Cookie', value);
    } catch {
      // Some responses have immutable headers; answer with a copy that can carry the cookie.
      const copy = new Response(c.res.body, c.res);
      copy.headers.append('Set-Cookie', value);
      c.res = undefined;
      c.res = copy;
    }
  };
}
