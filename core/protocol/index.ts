export * from './envelope.ts';
export * from './vault-api.ts';
export * from './secrets-api.ts';
export * from './gateway-wire.ts';
export * from './actions.ts';
