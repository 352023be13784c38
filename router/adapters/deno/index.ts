export { createDenoRouter, startDenoRouter, optionsFromEnv, type DenoRouter, type DenoRouterOptions, type RunningDenoRouter } from './serve.ts';
export { openStorage, parseStorageLocation, kyselySqliteDatabase, type StorageLocation } from './storage.ts';
export { loadOrCreateRouterKeys, routerKeysFromPrivateKey, ROUTER_KEY_ENV, ROUTER_KEY_FILE } from './router-key.ts';
export { denoClientIp } from './conninfo.ts';
