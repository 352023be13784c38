import { describe, expect, it } from 'vitest';
import { generateP256KeyPair, toBase64Url } from '../../../core/crypto/index.ts';
import { routerKeysFromSecret } from './router-key.ts';

describe('routerKeysFromSecret', () => {
  it('takes the key pair from the secret and never echoes it in errors', () => {
    const pair = generateP256KeyPair();
    expect(routerKeysFromSecret(toBase64Url(pair.privateKey)).publicKey).toEqual(pair.publicKey);
    expect(() => routerKeysFromSecret(undefined)).toThrow(/POSTERN_ROUTER_KEY secret is not set/);
    const bad = 'not-a-key-but-secret-looking';
    expect(() => routerKeysFromSecret(bad)).toThrow(/not a base64url P-256 private key/);
    expect(() => routerKeysFromSecret(bad)).not.toThrow(new RegExp(bad));
  });
});
