export { default as worker, type RouterEnv } from './worker.ts';
export { openD1Storage, d1Kysely } from './storage.ts';
export { D1Dialect, type D1DatabaseBinding } from './d1-dialect.ts';
export { routerKeysFromSecret, ROUTER_KEY_BINDING } from './router-key.ts';
export { cloudflareClientIp } from './conninfo.ts';
