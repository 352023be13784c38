/**
 * Active Directory's password format. AD keeps passwords in `unicodePwd`, which can be written
 * (never read) and only in one encoding: the password enclosed in double quotes, as UTF-16LE
 * bytes, sent as a binary value. Getting a byte wrong does not fail loudly in a useful way (AD
 * answers "unwilling to perform" or a constraint violation), so the encoding lives here on its
 * own, with byte-exact tests.
 *
 * The quotes are framing, not syntax: quotes or backslashes inside the password are not escaped;
 * AD strips the first and last character and takes the rest literally. Characters outside the
 * BMP (emoji) are written as their UTF-16 surrogate pair, which is exactly JavaScript's own string
 * representation, so no normalisation happens here: the bytes AD stores are the code units the
 * vault holds, and logging in later with the same string matches.
 */
export function encodeAdPassword(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}
