import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issueTurnRestCredentials, TurnCredentialError, turnRestPassword } from './turn-rest.ts';

describe('TURN REST credentials', () => {
  it('is base64(HMAC-SHA1(secret, "<expiry>:<user>")), as coturn computes it', () => {
    const secret = 'north-winds-and-0123456789';
    const c = issueTurnRestCredentials(secret, 'gw-1.abc', 600, 1_700_000_000_999);
    expect(c.username).toBe('1700000600:gw-1.abc');
    expect(c.expiresAt).toBe(1_700_000_600_000);
    expect(c.password).toBe(createHmac('sha1', secret).update(c.username).digest('base64'));
    expect(turnRestPassword(secret, c.username)).toBe(c.password);
  });

  it('refuses short secrets, user ids with ":" and silly lifetimes', () => {
    expect(() => issueTurnRestCredentials('short', 'u', 60, Date.now())).toThrow(TurnCredentialError);
    expect(() => issueTurnRestCredentials('a long enough secret', 'a:b', 60, Date.now())).toThrow(TurnCredentialError);
    expect(() => issueTurnRestCredentials('a long enough secret', '', 60, Date.now())).toThrow(TurnCredentialError);
    expect(() => issueTurnRestCredentials('a long enough secret', 'u', 0, Date.now())).toThrow(TurnCredentialError);
    expect(() => issueTurnRestCredentials('a long enough secret', 'u', 1.5, Date.now())).toThrow(TurnCredentialError);
  });
});
