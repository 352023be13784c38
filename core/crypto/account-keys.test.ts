import { describe, it, expect } from 'vitest';
import { PosternError } from '../errors.ts';
import {
  checkAuthHash,
  deriveAccountKeys,
  masterPasswordBytes,
  MAX_PBKDF2_ITERATIONS,
  MIN_PBKDF2_ITERATIONS,
  newKdfParams,
  splitAccountKey,
  verifierForAuthHash,
  type KdfParams,
} from './account-keys.ts';
import { concatBytes, equalBytes, fromBase64Url, fromHex, randomBytes, toBase64Url, toHex, utf8 } from './bytes.ts';
import { hkdfSha256, pbkdf2Sha256, sha256 } from './kdf.ts';

const LOW_ITERATIONS = 1000; // for the split tests only; deriveAccountKeys itself refuses this

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(PosternError);
  await expect(p).rejects.toMatchObject({ code });
}

async function lowIterationKeys(password: string, salt: Uint8Array) {
  return splitAccountKey(await pbkdf2Sha256(masterPasswordBytes(password), salt, LOW_ITERATIONS, 32));
}

describe('newKdfParams', () => {
  it('defaults to 600k iterations and a fresh 16-byte base64url salt', () => {
    const a = newKdfParams();
    const b = newKdfParams();
    expect(MIN_PBKDF2_ITERATIONS).toBe(600_000);
    expect(a.algorithm).toBe('pbkdf2-sha256');
    expect(a.iterations).toBe(MIN_PBKDF2_ITERATIONS);
    expect(fromBase64Url(a.salt).length).toBe(16);
    expect(a.salt).not.toBe(b.salt);
    expect(newKdfParams(1_000_000).iterations).toBe(1_000_000);
  });

  it('refuses iteration counts below the minimum', () => {
    expect(() => newKdfParams(100_000)).toThrow(PosternError);
    expect(() => newKdfParams(MAX_PBKDF2_ITERATIONS + 1)).toThrow(PosternError);
  });
});

describe('splitAccountKey (the HKDF step)', () => {
  it('is HKDF-SHA256 with the documented labels', () => {
    const stretched = randomBytes(32);
    const { authHash, encryptionKey } = splitAccountKey(stretched);
    expect(toHex(authHash)).toBe(toHex(hkdfSha256(stretched, undefined, utf8('postern/auth-hash/v1'), 32)));
    expect(toHex(encryptionKey)).toBe(toHex(hkdfSha256(stretched, undefined, utf8('postern/encryption-key/v1'), 32)));
  });

  it('rejects a wrong-length input', () => {
    expect(() => splitAccountKey(new Uint8Array(31))).toThrow(PosternError);
  });
});

describe('account key derivation (low iteration count via the split function)', () => {
  const salt = fromHex('000102030405060708090a0b0c0d0e0f');

  it('is deterministic and yields two distinct 32-byte keys', async () => {
    const a = await lowIterationKeys('correct horse battery staple', salt);
    const b = await lowIterationKeys('correct horse battery staple', salt);
    expect(a.authHash.length).toBe(32);
    expect(a.encryptionKey.length).toBe(32);
    expect(toHex(a.authHash)).toBe(toHex(b.authHash));
    expect(toHex(a.encryptionKey)).toBe(toHex(b.encryptionKey));
    expect(equalBytes(a.authHash, a.encryptionKey)).toBe(false);
  });

  it('changes with the salt and with the password', async () => {
    const a = await lowIterationKeys('correct horse battery staple', salt);
    const otherSalt = await lowIterationKeys('correct horse battery staple', fromHex('ff'.repeat(16)));
    const otherPw = await lowIterationKeys('correct horse battery stapler', salt);
    for (const other of [otherSalt, otherPw]) {
      expect(equalBytes(a.authHash, other.authHash)).toBe(false);
      expect(equalBytes(a.encryptionKey, other.encryptionKey)).toBe(false);
    }
  });

  it('NFKC-normalises the master password', async () => {
    // "é" precomposed (U+00E9) vs decomposed (e + U+0301); "ﬁ" ligature (U+FB01) vs "fi".
    expect(toHex(masterPasswordBytes('caf\u00e9'))).toBe(toHex(masterPasswordBytes('cafe\u0301')));
    expect(toHex(masterPasswordBytes('\ufb01le'))).toBe(toHex(masterPasswordBytes('file')));
    const a = await lowIterationKeys('caf\u00e9', salt);
    const b = await lowIterationKeys('cafe\u0301', salt);
    expect(toHex(a.encryptionKey)).toBe(toHex(b.encryptionKey));
  });
});

describe('deriveAccountKeys', () => {
  const params: KdfParams = { algorithm: 'pbkdf2-sha256', iterations: MIN_PBKDF2_ITERATIONS, salt: toBase64Url(fromHex('00'.repeat(8) + '11'.repeat(8))) };

  it('equals splitAccountKey(PBKDF2(NFKC(pw), salt, 600k)) (the one full-cost derivation)', async () => {
    const keys = await deriveAccountKeys('caf\u00e9 master', params);
    const stretched = await pbkdf2Sha256(utf8('café master'.normalize('NFKC')), fromBase64Url(params.salt), MIN_PBKDF2_ITERATIONS, 32);
    const expected = splitAccountKey(stretched);
    expect(toHex(keys.authHash)).toBe(toHex(expected.authHash));
    expect(toHex(keys.encryptionKey)).toBe(toHex(expected.encryptionKey));
    expect(equalBytes(keys.authHash, keys.encryptionKey)).toBe(false);
  });

  it('rejects iterations below 600k, short salts, bad salts, unknown algorithms and empty passwords', async () => {
    await rejectsWith(deriveAccountKeys('pw', { ...params, iterations: MIN_PBKDF2_ITERATIONS - 1 }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, iterations: 1 }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, iterations: 600_000.5 }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, iterations: '600000' as unknown as number }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, iterations: MAX_PBKDF2_ITERATIONS + 1 }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, salt: toBase64Url(randomBytes(15)) }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, salt: 'not base64url!' }), 'bad_request');
    await rejectsWith(deriveAccountKeys('pw', { ...params, algorithm: 'argon2id' as 'pbkdf2-sha256' }), 'bad_request');
    await rejectsWith(deriveAccountKeys('', params), 'bad_request');
  });
});

describe('verifierForAuthHash / checkAuthHash', () => {
  it('is SHA-256(serverSalt ‖ authHash)', () => {
    const authHash = randomBytes(32);
    const serverSalt = randomBytes(16);
    const v = verifierForAuthHash(authHash, serverSalt);
    expect(toHex(v)).toBe(toHex(sha256(concatBytes(serverSalt, authHash))));
    expect(checkAuthHash(authHash, serverSalt, v)).toBe(true);
    const wrong = authHash.slice();
    wrong[0]! ^= 1;
    expect(checkAuthHash(wrong, serverSalt, v)).toBe(false);
    expect(toHex(verifierForAuthHash(authHash, randomBytes(16)))).not.toBe(toHex(v));
  });

  it('rejects malformed lengths', () => {
    expect(() => verifierForAuthHash(randomBytes(31), randomBytes(16))).toThrow(PosternError);
    expect(() => verifierForAuthHash(randomBytes(32), randomBytes(15))).toThrow(PosternError);
  });
});
