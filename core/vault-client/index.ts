export * from './transport.ts';
export * from './account.ts';
export * from './vault-client.ts';
