import { describe, expect, it } from 'vitest';
import { invitationCodeHash, newInvitationCode, normaliseInvitationCode } from './invitation-code.ts';

describe('invitation codes', () => {
  it('are 25 base32 symbols in five groups, never starting with a dash', () => {
    const codes = new Set(Array.from({ length: 200 }, () => newInvitationCode()));
    expect(codes.size).toBe(200);
    for (const code of codes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$/);
  });

  it('hash the same however they are typed, and differently from each other', () => {
    const code = newInvitationCode();
    const typed = ` ${code.toLowerCase().replaceAll('-', ' ')} `;
    expect(invitationCodeHash(typed)).toBe(invitationCodeHash(code));
    expect(invitationCodeHash(code)).toMatch(/^[\w-]{43}$/);
    expect(normaliseInvitationCode('ooooo-iiiii-lllll-00000-11111')).toBe('0000011111111110000011111');
    expect(invitationCodeHash(newInvitationCode())).not.toBe(invitationCodeHash(code));
  });

  it('refuse malformed input with bad_request', () => {
    for (const bad of ['', 'AAAAA-BBBBB', 'UUUUU-UUUUU-UUUUU-UUUUU-UUUUU', `${newInvitationCode()}X`]) {
      expect(() => invitationCodeHash(bad)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
  });
});
