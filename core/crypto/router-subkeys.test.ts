import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.ts';
import { ecdsaSign, ecdsaVerify, p256PublicKey } from './ecdsa.ts';
import { deriveRouterSubkeys } from './router-subkeys.ts';

describe('deriveRouterSubkeys', () => {
  const routerKey = fromHex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721');

  it('is deterministic, so every Router process with the same key derives the same subkeys', () => {
    const a = deriveRouterSubkeys(routerKey);
    const b = deriveRouterSubkeys(routerKey);
    expect(toHex(a.signing.privateKey)).toBe(toHex(b.signing.privateKey));
    expect(toHex(a.fakeSalt)).toBe(toHex(b.fakeSalt));
  });

  it('gives each purpose its own key, none equal to the Router key itself', () => {
    const k = deriveRouterSubkeys(routerKey);
    const all = [routerKey, k.signing.privateKey, k.fakeSalt].map(toHex);
    expect(new Set(all).size).toBe(3);
    expect(toHex(k.signing.publicKey)).toBe(toHex(p256PublicKey(k.signing.privateKey)));
    expect(toHex(k.signing.publicKey)).not.toBe(toHex(p256PublicKey(routerKey)));
  });

  it('yields a working ECDSA key pair', async () => {
    const { signing } = deriveRouterSubkeys(routerKey);
    const message = new TextEncoder().encode('approve script');
    expect(await ecdsaVerify(signing.publicKey, message, await ecdsaSign(signing.privateKey, message))).toBe(true);
  });

  it('changes completely with the Router key', () => {
    const other = deriveRouterSubkeys(fromHex('0000000000000000000000000000000000000000000000000000000000000001'));
    expect(toHex(other.fakeSalt)).not.toBe(toHex(deriveRouterSubkeys(routerKey).fakeSalt));
  });
});
