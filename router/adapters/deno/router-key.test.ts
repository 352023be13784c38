import { describe, expect, it } from 'vitest';
import { generateP256KeyPair, toBase64Url } from '../../../core/crypto/index.ts';
import { loadOrCreateRouterKeys } from './router-key.ts';

// The key-file half needs Deno's file API; test/runtimes/deno.test.ts covers it under Deno.
describe('loadOrCreateRouterKeys (environment)', () => {
  it('takes the key pair from POSTERN_ROUTER_KEY without touching the disk', async () => {
    const pair = generateP256KeyPair();
    expect((await loadOrCreateRouterKeys({ envValue: toBase64Url(pair.privateKey) })).publicKey).toEqual(pair.publicKey);
    await expect(loadOrCreateRouterKeys({ envValue: 'bogus' })).rejects.toThrow(/POSTERN_ROUTER_KEY does not hold/);
    await expect(loadOrCreateRouterKeys({})).rejects.toThrow(/POSTERN_ROUTER_KEY or a data directory/);
  });
});
