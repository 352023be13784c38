/**
 * Long-term keys and TURN REST credentials. Expected values were computed independently
 * (Python hashlib/hmac) or come from RFC 5769 §2.4 / RFC 8489 B.1, whose messages verify with
 * them in message.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TURN_USER_ID_LENGTH, toHex, utf8 } from '../../core/crypto/index.ts';
import { PASSWORD_ALGORITHM } from './constants.ts';
import { checkTurnUsername, issueTurnCredentials, longTermKey, passwordAlgorithmName, turnPassword, userHash } from './credentials.ts';
import { buildStunMessage, parseStunMessage, verifyMessageIntegrity } from './message.ts';
import { expectStunError } from './testing/stun-expectations.ts';

const MATRIX_USER = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
const SECRET = 'correct horse battery staple';
/** 2023-11-14T22:13:20Z, in milliseconds. */
const NOW = 1_700_000_000_000;

describe('long-term credential key (RFC 8489 §9.2.2)', () => {
  it('is MD5("username:realm:password") by default, SHA-256 on request', () => {
    expect(toHex(longTermKey(MATRIX_USER, 'example.org', 'TheMatrIX'))).toBe('e8ca7ad59d5eb0518e312911d2dab2a9');
    expect(toHex(longTermKey(MATRIX_USER, 'example.org', 'TheMatrIX', 'md5'))).toBe('e8ca7ad59d5eb0518e312911d2dab2a9');
    expect(toHex(longTermKey(MATRIX_USER, 'example.org', 'TheMatrIX', 'sha256'))).toBe('dd295a613b9058c3c23d6dc7165bda072304d989c9d0af3a8c7e184b4f9bb4a1');
  });

  it('hashes the UTF-8 as given: no SASLprep, so the RFC’s unprepared password gives another key', () => {
    expect(toHex(longTermKey(MATRIX_USER, 'example.org', 'The\u00adM\u00aatr\u2168'))).not.toBe('e8ca7ad59d5eb0518e312911d2dab2a9');
  });

  it('refuses unknown algorithms and non-strings', () => {
    expectStunError(() => longTermKey('u', 'r', 'p', 'sha1' as never), 'invalid_argument');
    expectStunError(() => longTermKey('u', 'r', 42 as never), 'invalid_argument');
  });

  it('maps PASSWORD-ALGORITHM numbers to key derivations', () => {
    expect(passwordAlgorithmName(PASSWORD_ALGORITHM.MD5)).toBe('md5');
    expect(passwordAlgorithmName(PASSWORD_ALGORITHM.SHA256)).toBe('sha256');
    expect(passwordAlgorithmName(3)).toBeUndefined();
  });
});

describe('USERHASH (RFC 8489 §14.4)', () => {
  it('is SHA-256("username:realm"), as in RFC 8489 B.1', () => {
    expect(toHex(userHash(MATRIX_USER, 'example.org'))).toBe('4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704');
  });
});

describe('TURN REST API credentials (coturn use-auth-secret)', () => {
  it('issues "<expiry>:<user id>" with password base64(HMAC-SHA1(secret, username))', () => {
    const creds = issueTurnCredentials(SECRET, 'alice', 3600, NOW);
    expect(creds).toEqual({ username: '1700003600:alice', password: '+jQq5TE9ZBTrqo8k1biU9LDudNQ=', expiresAt: 1_700_003_600_000 });
    expect(turnPassword(utf8(SECRET), creds.username)).toBe(creds.password);
    expect(toHex(longTermKey(creds.username, 'postern', creds.password))).toBe('14898cc4766d4cc18d12a940b35cf963');
  });

  it('rounds the expiry down to a whole second', () => {
    expect(issueTurnCredentials(SECRET, 'alice', 1, NOW + 999).username).toBe('1700000001:alice');
  });

  it('lets the relay verify a request signed with them, from the username alone', () => {
    const { username, password } = issueTurnCredentials(SECRET, 'AAAAAAAAAAAAAAAAAAAAAA', 600, NOW);
    const tid = new Uint8Array(12).fill(9);
    const request = buildStunMessage(
      { method: 0x003, messageClass: 'request', transactionId: tid, attributes: [{ type: 0x0006, value: utf8(username) }] },
      { integrityKey: longTermKey(username, 'postern', password) },
    );
    const msg = parseStunMessage(request);
    const claimed = new TextDecoder().decode(msg.attributes[0]!.value);
    expect(checkTurnUsername(claimed, NOW + 1000)).toEqual({ userId: 'AAAAAAAAAAAAAAAAAAAAAA', expiresAt: (NOW / 1000 + 600) * 1000 });
    expect(verifyMessageIntegrity(msg, longTermKey(claimed, 'postern', turnPassword(SECRET, claimed)))).toBe(true);
    expect(verifyMessageIntegrity(msg, longTermKey(claimed, 'postern', turnPassword(`${SECRET}!`, claimed)))).toBe(false);
  });

  it('refuses weak secrets and bad user ids, lifetimes or clocks', () => {
    expectStunError(() => issueTurnCredentials('short', 'alice', 60, NOW), 'invalid_argument');
    expectStunError(() => turnPassword(new Uint8Array(15), 'x'), 'invalid_argument');
    for (const userId of ['', 'a:b', 'a b', 'é', 'x'.repeat(MAX_TURN_USER_ID_LENGTH + 1), 5 as never]) {
      expectStunError(() => issueTurnCredentials(SECRET, userId, 60, NOW), 'invalid_argument');
    }
    expect(issueTurnCredentials(SECRET, 'x'.repeat(MAX_TURN_USER_ID_LENGTH), 60, NOW).username).toContain(':');
    for (const ttl of [0, -1, 1.5, NaN, Infinity]) expectStunError(() => issueTurnCredentials(SECRET, 'alice', ttl, NOW), 'invalid_argument');
    for (const now of [-1, NaN, Infinity]) expectStunError(() => issueTurnCredentials(SECRET, 'alice', 60, now), 'invalid_argument');
    expectStunError(() => issueTurnCredentials(SECRET, 'alice', 10 ** 13, NOW), 'invalid_argument');
  });
});

describe('checkTurnUsername', () => {
  it('reads a valid username and accepts bytes', () => {
    expect(checkTurnUsername('1700003600:alice', NOW)).toEqual({ userId: 'alice', expiresAt: 1_700_003_600_000 });
    expect(checkTurnUsername(utf8('1700003600:alice'), NOW)).toEqual({ userId: 'alice', expiresAt: 1_700_003_600_000 });
  });

  it('refuses expired credentials with code unauthorized, at the expiry itself too', () => {
    expect(checkTurnUsername('1700000001:alice', NOW).userId).toBe('alice');
    const e = expectStunError(() => checkTurnUsername('1700000000:alice', NOW), 'credentials_expired');
    expect(e.code).toBe('unauthorized');
    expect(e.message).toContain('2023-11-14T22:13:20.000Z');
    expectStunError(() => checkTurnUsername('1:alice', NOW), 'credentials_expired');
    expectStunError(() => checkTurnUsername('1700003600:alice', NaN), 'credentials_expired');
  });

  it('refuses anything but "<expiry>:<user id>" as malformed (the shapes that broke other servers included)', () => {
    const malformed = [
      '',
      'alice',
      '1700003600',
      '1700003600:',
      ':alice',
      'alice:1700003600',
      '01700003600:alice',
      '-5:alice',
      '+5:alice',
      '1e9:alice',
      '0x10:alice',
      ' 1700003600:alice',
      '1700003600 :alice',
      '1700003600: alice',
      '1700003600:a b',
      '1700003600:a:b',
      '9999999999999:alice',
      '99999999999999999999999:alice',
      `1700003600:${'x'.repeat(MAX_TURN_USER_ID_LENGTH + 1)}`,
      '1700003600:é',
      '1700003600:\u0000',
    ];
    for (const username of malformed) {
      const e = expectStunError(() => checkTurnUsername(username, NOW), 'credentials_malformed');
      expect(e.code).toBe('bad_request');
    }
    expectStunError(() => checkTurnUsername(new Uint8Array([0xff]), NOW), 'credentials_malformed');
    expectStunError(() => checkTurnUsername(42 as never, NOW), 'credentials_malformed');
  });
});
