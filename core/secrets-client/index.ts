export * from './client.ts';
export * from './config.ts';
export * from './token.ts';
