/**
 * Invitation codes: what an administrator hands a new user so they may register on a Router
 * that does not allow open registration. The administrator's client makes the code and sends
 * only its hash; the Router stores the hash with the invited email and an expiry, and the new
 * user's client sends the code once, at registration, inside the sealed request.
 *
 * 25 symbols of Crockford's base32 (125 random bits) in groups of five: easy to read aloud or
 * type at a prompt, never starting with "-" (a command-line flag), case and dashes ignored.
 */
import { randomBytes, sha256, toBase64Url, utf8 } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SYMBOLS = 25;

export function newInvitationCode(): string {
  // 256 is a multiple of 32: taking the low five bits of each byte is unbiased.
  const symbols = Array.from(randomBytes(SYMBOLS), (b) => ALPHABET[b & 31]).join('');
  return symbols.match(/.{5}/g)!.join('-');
}

/** The canonical form: upper case, no separators, Crockford's look-alikes folded (O→0, I/L→1). */
export function normaliseInvitationCode(code: string): string {
  const canonical = code.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (canonical.length !== SYMBOLS || [...canonical].some((c) => !ALPHABET.includes(c))) {
    throw new PosternError(
      'bad_request',
      `An invitation code is ${SYMBOLS} letters and digits in groups of five (XXXXX-XXXXX-XXXXX-XXXXX-XXXXX); check it for typos.`,
    );
  }
  return canonical;
}

/** What the Router stores and looks up: SHA-256 of the canonical code (base64url, 43 chars). */
export function invitationCodeHash(code: string): string {
  return toBase64Url(sha256(utf8(`postern/invitation/${normaliseInvitationCode(code)}`)));
}
