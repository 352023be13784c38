/**
 * The Router as a Cloudflare Worker (`main` in /wrangler.toml): the same Hono app as on Node
 * and Deno, with D1 for storage, the key pair from the POSTERN_ROUTER_KEY secret and the client
 * address from CF-Connecting-IP. The app is built once per isolate, on its first request.
 *
 *   npx wrangler dev --local --ip 127.0.0.1 --port 8787 --var POSTERN_ROUTER_KEY:<base64url key>
 */
import type { ExecutionContext, Hono } from 'hono';
import { PosternError } from '../../../core/errors.ts';
import { createRouterApp } from '../../app.ts';
import { consoleLogger, type Logger } from '../../../core/logger.ts';
import { cloudflareClientIp } from './conninfo.ts';
import { routerKeysFromSecret } from './router-key.ts';
import { openD1Storage, type D1DatabaseBinding } from './storage.ts';

/** Bindings from wrangler.toml (`DB`) and secrets/vars. */
export interface RouterEnv {
  DB: D1DatabaseBinding;
  POSTERN_ROUTER_KEY?: string;
  POSTERN_LOG_LEVEL?: string;
}

let isolate: { env: RouterEnv; app: Promise<Hono> } | undefined;

function logLevel(value: string | undefined): 'debug' | 'info' | 'warn' | 'error' {
  return value === 'debug' || value === 'warn' || value === 'error' ? value : 'info';
}

async function buildApp(env: RouterEnv, logger: Logger): Promise<Hono> {
  const keys = routerKeysFromSecret(env.POSTERN_ROUTER_KEY);
  const db = await openD1Storage(env.DB);
  // No long-lived process on Workers: the Head's schedule will run from a Durable Object alarm.
  return createRouterApp({ db, keys, logger, clientIp: cloudflareClientIp, head: false });
}

function routerApp(env: RouterEnv, logger: Logger): Promise<Hono> {
  if (!isolate || isolate.env.DB !== env.DB || isolate.env.POSTERN_ROUTER_KEY !== env.POSTERN_ROUTER_KEY) {
    const app = buildApp(env, logger);
    const current = { env, app };
    isolate = current;
    app.catch(() => {
      if (isolate === current) isolate = undefined;
    });
  }
  return isolate.app;
}

export default {
  async fetch(request: Request, env: RouterEnv, ctx: ExecutionContext): Promise<Response> {
    const logger = consoleLogger(logLevel(env.POSTERN_LOG_LEVEL));
    let app: Hono;
    try {
      app = await routerApp(env, logger);
    } catch (err) {
      // Names and causes only: the key is never part of these messages.
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'router not ready');
      const error = new PosternError('internal', 'The Router is not ready; the details are in its log.');
      return Response.json(error.toJSON(), { status: error.httpStatus });
    }
    return app.fetch(request, env, ctx);
  },
};

// Durable Objects go here in a later issue: one per gateway holding its WebSocket (the sticky
// session) and one for the Head (alarms drive the rotation schedule), exported from this module
// and bound in wrangler.toml under [[durable_objects.bindings]] with a [[migrations]] entry.
