/**
 * Byte helpers: randomness, base64 / base64url / hex / UTF-8 codecs, concatenation and
 * constant-time comparison.
 *
 * Web-standard APIs only (crypto.getRandomValues, TextEncoder/TextDecoder): no Buffer, no
 * `node:` imports, so this runs unchanged on Node, Deno, workerd and browsers.
 *
 * Every decoder is strict: it rejects characters outside its alphabet (including whitespace),
 * misplaced padding and non-canonical encodings with PosternError('bad_request'). Error
 * messages never echo the input, which may be key material.
 */
import { PosternError } from '../errors.ts';

/** crypto.getRandomValues refuses more than 65536 bytes per call. */
const MAX_RANDOM_CHUNK = 65536;

/**
 * Small requests (nonces, UIDs, keys) are served from a block drawn from the CSPRNG 4 KiB at a
 * time: each call out to the platform costs more than the bytes (docs/decisions/0008-native-crypto.md,
 * "Randomness"). A served slice is zeroed in the block, so no key stays in
 * memory twice; no byte is served twice.
 */
const POOL_BYTES = 4096;
const POOLED_MAX = 64;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** `n` bytes from the platform CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new PosternError('bad_request', 'randomBytes: length must be a non-negative integer');
  }
  if (n <= POOLED_MAX) {
    if (poolOffset + n > POOL_BYTES) {
      crypto.getRandomValues(pool);
      poolOffset = 0;
    }
    const out = pool.slice(poolOffset, poolOffset + n);
    pool.fill(0, poolOffset, poolOffset + n);
    poolOffset += n;
    return out;
  }
  const out = new Uint8Array(n);
  for (let offset = 0; offset < n; offset += MAX_RANDOM_CHUNK) {
    crypto.getRandomValues(out.subarray(offset, Math.min(n, offset + MAX_RANDOM_CHUNK)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// base64 (RFC 4648 §4, padded) and base64url (RFC 4648 §5, unpadded)
// ---------------------------------------------------------------------------------------------

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function buildLookup(alphabet: string): Int16Array {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}

const B64_LOOKUP = buildLookup(B64_ALPHABET);
const B64URL_LOOKUP = buildLookup(B64URL_ALPHABET);

/**
 * An alphabet as ASCII codes, and every 12-bit group as its two characters packed into one
 * little-endian 16-bit word, so the encoder writes two characters per table lookup.
 */
interface EncodeTables {
  codes: Uint8Array;
  pairs: Uint16Array;
}

function encodeTables(alphabet: string): EncodeTables {
  const codes = new Uint8Array(64);
  for (let i = 0; i < 64; i++) codes[i] = alphabet.charCodeAt(i);
  const pairs = new Uint16Array(4096);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (let i = 0; i < 4096; i++) {
    const first = codes[i >> 6]!;
    const second = codes[i & 63]!;
    pairs[i] = littleEndian ? first | (second << 8) : (first << 8) | second;
  }
  return { codes, pairs };
}

const B64_TABLES = encodeTables(B64_ALPHABET);
const B64URL_TABLES = encodeTables(B64URL_ALPHABET);
/** The output is ASCII, which UTF-8 decodes to itself (a native fast path on every runtime). */
const asciiDecoder = new TextDecoder('utf-8');

/**
 * Encodes into a byte array of ASCII codes, turned into a string in one native call, not one
 * string per character (fifteen times faster on a vault answer; docs/decisions/0008-native-crypto.md).
 */
function encodeBase64(bytes: Uint8Array, { codes, pairs }: EncodeTables, pad: boolean): string {
  const len = bytes.length;
  const full = len - (len % 3);
  const out = new Uint8Array(Math.ceil(len / 3) * 4 + 2); // + 2: a whole last word
  const words = new Uint16Array(out.buffer, 0, out.length >> 1);
  let w = 0;
  let i = 0;
  for (; i < full; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    words[w++] = pairs[n >>> 12]!;
    words[w++] = pairs[n & 4095]!;
  }
  let o = w * 2;
  const rest = len - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out[o++] = codes[(n >>> 18) & 63]!;
    out[o++] = codes[(n >>> 12) & 63]!;
    if (pad) {
      out[o++] = 0x3d;
      out[o++] = 0x3d;
    }
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out[o++] = codes[(n >>> 18) & 63]!;
    out[o++] = codes[(n >>> 12) & 63]!;
    out[o++] = codes[(n >>> 6) & 63]!;
    if (pad) out[o++] = 0x3d;
  }
  return asciiDecoder.decode(out.subarray(0, o));
}

/** Decodes an unpadded body. Rejects bad characters, impossible lengths and non-zero trailing bits. */
function decodeBase64Body(body: string, lookup: Int16Array, what: string): Uint8Array {
  const rem = body.length % 4;
  if (rem === 1) throw new PosternError('bad_request', `invalid ${what}: impossible length`);
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const v = c < 128 ? lookup[c]! : -1;
    if (v < 0) throw new PosternError('bad_request', `invalid ${what}: unexpected character at position ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // Leftover bits (2 or 4) must be zero, otherwise two strings would decode to the same bytes.
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) {
    throw new PosternError('bad_request', `invalid ${what}: non-canonical trailing bits`);
  }
  return out;
}

/** Standard base64 with `=` padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  return encodeBase64(bytes, B64_TABLES, true);
}

/** Strict standard base64 decoder: padding required, no whitespace, canonical only. */
export function fromBase64(s: string): Uint8Array {
  if (typeof s !== 'string') throw new PosternError('bad_request', 'invalid base64: not a string');
  if (s.length % 4 !== 0) throw new PosternError('bad_request', 'invalid base64: length is not a multiple of 4');
  let padCount = 0;
  if (s.endsWith('==')) padCount = 2;
  else if (s.endsWith('=')) padCount = 1;
  return decodeBase64Body(s.slice(0, s.length - padCount), B64_LOOKUP, 'base64');
}

/** base64url without padding (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  return encodeBase64(bytes, B64URL_TABLES, false);
}

/** Strict base64url decoder: no padding accepted, no whitespace, canonical only. */
export function fromBase64Url(s: string): Uint8Array {
  if (typeof s !== 'string') throw new PosternError('bad_request', 'invalid base64url: not a string');
  return decodeBase64Body(s, B64URL_LOOKUP, 'base64url');
}

// ---------------------------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder();
// fatal: reject invalid UTF-8 instead of inserting U+FFFD; ignoreBOM: keep a leading U+FEFF
// so that fromUtf8(utf8(s)) === s for every well-formed s.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new PosternError('bad_request', 'invalid UTF-8');
  }
}

// ---------------------------------------------------------------------------------------------
// misc
// ---------------------------------------------------------------------------------------------

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Constant-time equality for equal-length inputs (time depends only on the length, which is
 * not treated as secret: different lengths return false immediately).
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const HEX = '0123456789abcdef';

/** Lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  const chars: string[] = new Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) chars[i] = HEX[bytes[i]! >>> 4]! + HEX[bytes[i]! & 15]!;
  return chars.join('');
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** Accepts upper- or lower-case hex, no prefix, no separators. */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0) {
    throw new PosternError('bad_request', 'invalid hex: odd length');
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(s.charCodeAt(2 * i));
    const lo = hexNibble(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new PosternError('bad_request', `invalid hex: unexpected character near position ${2 * i}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}
