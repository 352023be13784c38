export { startNodeRouter, type NodeRouterOptions, type RunningRouter } from './server.ts';
export { openStorage, parseStorageLocation, type StorageLocation } from './storage.ts';
export { loadOrCreateRouterKeys, ROUTER_KEY_FILE } from './router-key.ts';
export { nodeClientIp } from './conninfo.ts';
export { nodeLogger } from './logger.ts';
export { NatsBus, redactNatsUrl, type NatsBusOptions } from './nats-bus.ts';
export type { RouterRole } from './server.ts';
