import { describe, it, expect } from 'vitest';
import { PosternError } from '../errors.ts';
import { aesGcmDecrypt, aesGcmEncrypt, generateAesKey } from './aes-gcm.ts';
import { randomBytes, toHex, utf8 } from './bytes.ts';
import { deviceClientId, tokenWrappingKey } from './client-id.ts';
import { hkdfSha256, hmacSha512 } from './kdf.ts';
import * as api from './index.ts';

describe('deviceClientId / tokenWrappingKey', () => {
  const token = randomBytes(32);

  it('client id = HMAC-SHA512(token, "POSTERN_CLIENT_ID"), 64 bytes, deterministic', () => {
    const id = deviceClientId(token);
    expect(id.length).toBe(64);
    expect(toHex(id)).toBe(toHex(hmacSha512(token, utf8('POSTERN_CLIENT_ID'))));
    expect(toHex(deviceClientId(token))).toBe(toHex(id));
    expect(toHex(deviceClientId(randomBytes(32)))).not.toBe(toHex(id));
  });

  it('wrapping key = HKDF-SHA256(token, -, "postern/token-wrap/v1", 32), unrelated to the client id', () => {
    const k = tokenWrappingKey(token);
    expect(k.length).toBe(32);
    expect(toHex(k)).toBe(toHex(hkdfSha256(token, undefined, utf8('postern/token-wrap/v1'), 32)));
    expect(toHex(deviceClientId(token))).not.toContain(toHex(k));
  });

  it('wraps and unwraps an application key', async () => {
    const appKey = generateAesKey();
    const wrapped = await aesGcmEncrypt(tokenWrappingKey(token), appKey);
    expect(await aesGcmDecrypt(tokenWrappingKey(token), wrapped)).toEqual(appKey);
    await expect(aesGcmDecrypt(tokenWrappingKey(randomBytes(32)), wrapped)).rejects.toThrow(PosternError);
  });

  it('rejects tokens shorter than 16 bytes', () => {
    expect(() => deviceClientId(randomBytes(15))).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => tokenWrappingKey(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
});

describe('index re-exports the whole API', () => {
  it('exposes every entry point', () => {
    for (const name of [
      'randomBytes',
      'toBase64',
      'fromBase64',
      'toBase64Url',
      'fromBase64Url',
      'utf8',
      'fromUtf8',
      'concatBytes',
      'equalBytes',
      'toHex',
      'fromHex',
      'aesGcmEncrypt',
      'aesGcmDecrypt',
      'aesGcmSealWithNonce',
      'generateAesKey',
      'pbkdf2Sha256',
      'hkdfSha256',
      'hmacSha512',
      'hmacSha256',
      'sha256',
      'newKdfParams',
      'deriveAccountKeys',
      'verifierForAuthHash',
      'splitAccountKey',
      'eciesEncrypt',
      'eciesDecrypt',
      'generateP256KeyPair',
      'p256PublicKey',
      'ecdsaSign',
      'ecdsaVerify',
      'deviceClientId',
      'tokenWrappingKey',
      'p256EcdhSharedX',
      'ecdsaNormalizeSignature',
      'p256UncompressedPublicKey',
      'sealBytes',
      'openBytes',
      'sealJsonValue',
      'openJsonValue',
      'sealToPublicKey',
      'openWithPrivateKey',
    ]) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(api.AES_KEY_LENGTH).toBe(32);
    expect(api.MIN_PBKDF2_ITERATIONS).toBe(600_000);
    expect(api.NATIVE_AES_GCM_MIN_BYTES).toBe(256);
  });

  it('does not expose the implementations behind it (noble.ts, webcrypto.ts)', () => {
    for (const name of ['nobleEcdsaSign', 'nobleAesGcmSeal', 'webEcdsaSign', 'webAesGcmSeal', 'webEcdhSharedX', 'platformSubtle', 'cachedP256PublicKey']) {
      expect(name in api, name).toBe(false);
    }
  });

  it('sealed values round-trip through the async API, bound to their purpose', async () => {
    const key = generateAesKey();
    const value = { uid: 'r1', fields: ['a', 'b'] };
    const sealed = await api.sealJsonValue(key, value, api.purposes.record('r1'));
    expect(await api.openJsonValue(key, sealed, api.purposes.record('r1'))).toEqual(value);
    await expect(api.openJsonValue(key, sealed, api.purposes.record('r2'))).rejects.toMatchObject({ code: 'decrypt_failed' });

    const { privateKey, publicKey } = api.generateP256KeyPair();
    const recordKey = generateAesKey();
    const wrapped = await api.sealToPublicKey(publicKey, recordKey, api.purposes.recordKey('r1'));
    expect(await api.openWithPrivateKey(privateKey, wrapped, api.purposes.recordKey('r1'))).toEqual(recordKey);
    await expect(api.openWithPrivateKey(privateKey, wrapped, api.purposes.recordKey('r2'))).rejects.toMatchObject({ code: 'decrypt_failed' });
  });
});
