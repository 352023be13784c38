/**
 * The Router as one Hono app. It imports no runtime: adapters in router/adapters/* build
 * RouterDeps (storage, keys, client address) and serve `createRouterApp(deps).fetch`.
 */
import { Hono } from 'hono';
import { toBase64Url } from '../core/crypto/index.ts';
import { PosternError } from '../core/errors.ts';
import { DEFAULT_LIMITS, type RouterDeps, type RouterLimits } from './deps.ts';
import { errorResponse } from './http/errors.ts';
import { handleSecretsOperation } from './secrets/endpoint.ts';
import { handleVaultCommand } from './vault/endpoint.ts';

export const ROUTER_VERSION = '0.1.0';

export function createRouterApp(deps: RouterDeps): Hono {
  const limits: RouterLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const app = new Hono();

  app.onError((err, c) => errorResponse(c, err, deps.logger));
  app.notFound((c) => c.json(new PosternError('not_found', `No route for ${c.req.method} ${c.req.path}.`).toJSON(), 404));

  app.get('/healthz', (c) => c.json({ status: 'ok', version: deps.version ?? ROUTER_VERSION }));
  app.get('/api/v1/router-key', (c) => c.json({ publicKey: toBase64Url(deps.keys.publicKey), algorithm: 'ecies-p256-hkdf-sha256-aes256gcm' }));
  app.post('/api/v1/vault/:command', (c) => handleVaultCommand(c, deps, limits));
  app.post('/api/v1/secrets/:operation', (c) => handleSecretsOperation(c, deps, limits));

  return app;
}
