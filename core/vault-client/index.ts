export * from './transport.ts';
export * from './account.ts';
export * from './vault-client.ts';
export * from './seen-revisions.ts';
export * from './router-key-fingerprint.ts';
