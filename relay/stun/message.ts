/**
 * STUN messages (RFC 8489 §5–§6, §14.5–§14.7): parse, build, and check MESSAGE-INTEGRITY,
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0 0|     STUN Message Type     |         Message Length        |
 *   |                         Magic Cookie                          |
 *   |                     Transaction ID (96 bits)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   then attributes: Type (16) | Length (16) | Value, padded to a multiple of 4 bytes
 *
 * This module works at the level of attribute TLVs; attributes.ts gives the values types.
 *
 * Errors: everything here throws StunError, a PosternError (so it flows through the rest of
 * Postern unchanged) with code 'bad_request' (or 'payload_too_large' / 'unauthorized' where
 * that is the truth) plus a `reason` naming exactly what was wrong, because a TURN server must
 * act differently on different faults: drop a datagram that is not STUN at all, answer 400 to a
 * malformed request, close a TCP stream that lost framing. parseStunMessage throws nothing
 * else, does work linear in the bytes it was given, and never allocates more than a few objects
 * per attribute: values are views into the input, never copies sized by a length field.
 *
 * The parsed message keeps the received bytes (`raw`) and each attribute's offset, because the
 * integrity checks are defined over the exact bytes received, padding included.
 */
import { crc32, equalBytes, hmacSha1, hmacSha256, randomBytes } from '../../core/crypto/index.ts';
import { InputError, type ErrorCode } from '../../core/errors.ts';
import {
  ATTR,
  CLASS_BITS,
  CLASSES,
  FINGERPRINT_XOR,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  MAX_ATTRIBUTES,
  MAX_MESSAGE_BYTES,
  MAX_METHOD,
  TRANSACTION_ID_LENGTH,
  attributeName,
  isComprehensionRequired,
  type StunClass,
} from './constants.ts';

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/** What exactly was wrong; stable, for code to branch on (the message is for people). */
export type StunErrorReason =
  | 'not_bytes' // the input is not a Uint8Array
  | 'truncated' // shorter than the header, or than its length field says
  | 'not_stun' // the first two bits are not 00
  | 'bad_cookie' // no RFC 5389/8489 magic cookie (RFC 3489 or not STUN)
  | 'bad_length' // length field not a multiple of 4
  | 'trailing_bytes' // bytes after the end the length field gives
  | 'too_large' // over MAX_MESSAGE_BYTES (or a framer's limit)
  | 'attribute_overrun' // an attribute runs past the end of the message
  | 'too_many_attributes' // more than MAX_ATTRIBUTES
  | 'fingerprint_not_last' // an attribute after FINGERPRINT
  | 'bad_attribute' // an attribute value that does not decode
  | 'not_channel_data' // the first two bits are not 01
  | 'bad_channel_number' // outside 0x4000–0x4FFF
  | 'bad_framing' // a TCP stream that is neither STUN nor ChannelData
  | 'credentials_malformed' // a TURN REST username that is not "<expiry>:<user id>"
  | 'credentials_expired' // a TURN REST username past its expiry
  | 'invalid_argument'; // a caller passed something impossible to a builder

/** What the STUN/TURN codec throws: `reason` says what was wrong; no stack for bad input (see InputError). */
export class StunError extends InputError<StunErrorReason> {
  constructor(reason: StunErrorReason, message: string, code: ErrorCode = 'bad_request') {
    super(reason, code, message);
    this.name = 'StunError';
  }
}

// ---------------------------------------------------------------------------------------------
// message type: method and class interleaved (RFC 8489 §5, figure 3)
//
//    13 12 11 10  9  8  7  6  5  4  3  2  1  0
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |M |M |M |M |M |C |M |M |M |C |M |M |M |M |
//   |11|10| 9| 8| 7| 1| 6| 5| 4| 0| 3| 2| 1| 0|
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+
// ---------------------------------------------------------------------------------------------

/** The 14-bit message type for a method (12 bits) and class. Binding request → 0x0001. */
export function encodeMessageType(method: number, messageClass: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > MAX_METHOD) {
    throw new StunError('invalid_argument', `STUN method must be an integer in 0x000–0xFFF, got ${String(method)}`);
  }
  if (!Object.hasOwn(CLASS_BITS, messageClass)) {
    throw new StunError('invalid_argument', `STUN class must be one of ${CLASSES.join(', ')}`);
  }
  const c = CLASS_BITS[messageClass];
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7);
}

/** Inverse of encodeMessageType for any 14-bit type (the two top bits are ignored). */
export function decodeMessageType(type: number): { method: number; messageClass: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const c = ((type >> 4) & 0b01) | ((type >> 7) & 0b10);
  return { method, messageClass: CLASSES[c]! };
}

// ---------------------------------------------------------------------------------------------
// parsing
// ---------------------------------------------------------------------------------------------

export interface StunAttribute {
  readonly type: number;
  /** The value without padding: a view into the message's `raw`. */
  readonly value: Uint8Array;
  /** Offset of the attribute's 4-byte header in `raw`. */
  readonly offset: number;
}

export interface StunMessage {
  readonly method: number;
  readonly messageClass: StunClass;
  /** 12 bytes, a view into `raw`. */
  readonly transactionId: Uint8Array;
  /** Every attribute in wire order, including those RFC 8489 says to ignore (see significantAttributes). */
  readonly attributes: readonly StunAttribute[];
  /** The bytes parsed (the caller's buffer, not a copy: do not reuse it while the message is in use). */
  readonly raw: Uint8Array;
}

function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/** Value length rounded up to the 4-byte boundary attributes are padded to. */
export function padded(length: number): number {
  return (length + 3) & ~3;
}

/**
 * Quick check for demultiplexing (RFC 7983): at least a header, first two bits 00 (ChannelData
 * has 01) and the magic cookie. True does not mean well-formed: parseStunMessage decides that.
 */
export function isStunMessage(bytes: Uint8Array): boolean {
  return bytes instanceof Uint8Array && bytes.length >= HEADER_LENGTH && (bytes[0]! & 0xc0) === 0 && u32(bytes, 4) === MAGIC_COOKIE;
}

/**
 * Parses one complete STUN message: a UDP datagram or a frame from TurnStreamFramer. Throws
 * StunError (code 'bad_request', or 'payload_too_large' for reason 'too_large') for anything
 * that is not exactly one well-formed message; see StunErrorReason.
 */
export function parseStunMessage(bytes: Uint8Array): StunMessage {
  if (!(bytes instanceof Uint8Array)) throw new StunError('not_bytes', 'STUN message must be a Uint8Array');
  if (bytes.length < HEADER_LENGTH) {
    throw new StunError('truncated', `STUN message is ${bytes.length} bytes, shorter than the 20-byte header`);
  }
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new StunError('too_large', `STUN message is ${bytes.length} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`, 'payload_too_large');
  }
  if ((bytes[0]! & 0xc0) !== 0) {
    throw new StunError('not_stun', 'not a STUN message: the first two bits must be 00 (01 would be TURN ChannelData)');
  }
  if (u32(bytes, 4) !== MAGIC_COOKIE) {
    throw new StunError('bad_cookie', 'not an RFC 8489 STUN message: the magic cookie 0x2112A442 is missing (RFC 3489 clients are not supported)');
  }
  const length = u16(bytes, 2);
  if (length % 4 !== 0) throw new StunError('bad_length', `STUN message length ${length} is not a multiple of 4`);
  const end = HEADER_LENGTH + length;
  if (end > bytes.length) {
    throw new StunError('truncated', `STUN message header announces ${length} bytes of attributes but only ${bytes.length - HEADER_LENGTH} arrived`);
  }
  if (end < bytes.length) {
    throw new StunError('trailing_bytes', `STUN message has ${bytes.length - end} bytes after the ${length} bytes of attributes its header announces`);
  }

  const { method, messageClass } = decodeMessageType(u16(bytes, 0));
  const attributes: StunAttribute[] = [];
  let offset = HEADER_LENGTH;
  // Each pass consumes at least 4 bytes, so this loop ends after at most length/4 passes, and
  // end - offset stays a multiple of 4, so an attribute header always fits.
  while (offset < end) {
    if (attributes.length === MAX_ATTRIBUTES) {
      throw new StunError('too_many_attributes', `STUN message has more than ${MAX_ATTRIBUTES} attributes`);
    }
    if (attributes.length > 0 && attributes[attributes.length - 1]!.type === ATTR.FINGERPRINT) {
      throw new StunError('fingerprint_not_last', `STUN attribute ${attributeName(u16(bytes, offset))} follows FINGERPRINT, which must be the last attribute`);
    }
    const type = u16(bytes, offset);
    const valueLength = u16(bytes, offset + 2);
    const valueStart = offset + 4;
    const next = valueStart + padded(valueLength);
    if (next > end) {
      throw new StunError(
        'attribute_overrun',
        `STUN attribute ${attributeName(type)} at byte ${offset} claims ${valueLength} bytes but only ${end - valueStart} remain in the message`,
      );
    }
    attributes.push({ type, value: bytes.subarray(valueStart, valueStart + valueLength), offset });
    offset = next;
  }
  return { method, messageClass, transactionId: bytes.subarray(8, HEADER_LENGTH), attributes, raw: bytes };
}

// ---------------------------------------------------------------------------------------------
// reading attributes
// ---------------------------------------------------------------------------------------------

/**
 * The attributes an agent acts on (RFC 8489 §14.5, §14.6): all up to the first
 * MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256; after MESSAGE-INTEGRITY only
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT.
 * Anything else after the integrity check was not covered by it and must be ignored, or
 * whoever is on the path could add a LIFETIME or an XOR-PEER-ADDRESS to a signed request.
 */
export function significantAttributes(msg: StunMessage): StunAttribute[] {
  const out: StunAttribute[] = [];
  let state: 'open' | 'after_sha1' | 'after_sha256' = 'open';
  for (const a of msg.attributes) {
    if (state === 'open') {
      out.push(a);
      if (a.type === ATTR.MESSAGE_INTEGRITY) state = 'after_sha1';
      else if (a.type === ATTR.MESSAGE_INTEGRITY_SHA256) state = 'after_sha256';
    } else if (a.type === ATTR.FINGERPRINT) {
      out.push(a);
    } else if (state === 'after_sha1' && a.type === ATTR.MESSAGE_INTEGRITY_SHA256) {
      out.push(a);
      state = 'after_sha256';
    }
  }
  return out;
}

/** The first significant attribute of this type (RFC 8489 §14: only the first occurrence counts). */
export function getAttribute(msg: StunMessage, type: number): StunAttribute | undefined {
  return significantAttributes(msg).find((a) => a.type === type);
}

/** Every significant attribute of this type (e.g. the XOR-PEER-ADDRESSes of a CreatePermission). */
export function getAttributes(msg: StunMessage, type: number): StunAttribute[] {
  return significantAttributes(msg).filter((a) => a.type === type);
}

/**
 * Comprehension-required types (0x0000–0x7FFF) among the significant attributes that are not
 * in `understood`, each once, in order of appearance: what a server lists in UNKNOWN-ATTRIBUTES
 * when it answers a request with 420 (RFC 8489 §6.3.1.1).
 */
export function unknownComprehensionRequired(msg: StunMessage, understood: ReadonlySet<number>): number[] {
  const out: number[] = [];
  for (const a of significantAttributes(msg)) {
    if (isComprehensionRequired(a.type) && !understood.has(a.type) && !out.includes(a.type)) out.push(a.type);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// integrity and fingerprint
// ---------------------------------------------------------------------------------------------

/**
 * The bytes a MAC covers for the attribute at `attr` (RFC 8489 §14.5, §14.6): everything before
 * it, with the header's length field rewritten as if the message ended right after it. A copy,
 * since the received length field usually differs (FINGERPRINT may follow).
 */
function integrityInput(msg: StunMessage, attr: StunAttribute): Uint8Array {
  const input = msg.raw.slice(0, attr.offset);
  const length = attr.offset - HEADER_LENGTH + 4 + padded(attr.value.length);
  input[2] = length >>> 8;
  input[3] = length & 0xff;
  return input;
}

/**
 * True when the message carries a significant MESSAGE-INTEGRITY that is HMAC-SHA1(key, …) of
 * the bytes before it (RFC 8489 §14.5). `key` is the long-term key (credentials.ts) or, for
 * short-term credentials, the UTF-8 password. False when the attribute is absent or not 20
 * bytes. The comparison is constant-time.
 */
export function verifyMessageIntegrity(msg: StunMessage, key: Uint8Array): boolean {
  const attr = getAttribute(msg, ATTR.MESSAGE_INTEGRITY);
  if (attr?.value.length !== 20) return false;
  return equalBytes(hmacSha1(key, integrityInput(msg, attr)), attr.value);
}

/**
 * Same for MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): HMAC-SHA256, possibly truncated to its
 * first 16–32 bytes (a multiple of 4); any other length is false.
 */
export function verifyMessageIntegritySha256(msg: StunMessage, key: Uint8Array): boolean {
  const attr = getAttribute(msg, ATTR.MESSAGE_INTEGRITY_SHA256);
  const n = attr?.value.length ?? 0;
  if (!attr || n < 16 || n > 32 || n % 4 !== 0) return false;
  return equalBytes(hmacSha256(key, integrityInput(msg, attr)).subarray(0, n), attr.value);
}

/**
 * True when the message ends with a FINGERPRINT equal to CRC-32 of everything before it XOR
 * 0x5354554e (RFC 8489 §14.7). False when there is none: FINGERPRINT is optional.
 */
export function verifyFingerprint(msg: StunMessage): boolean {
  const attr = msg.attributes[msg.attributes.length - 1];
  if (!attr || attr.type !== ATTR.FINGERPRINT || attr.value.length !== 4) return false;
  // FINGERPRINT is last and 4 bytes long, so the header's length field already says "the
  // message ends after it": the received bytes are the CRC input as they are.
  return (crc32(msg.raw.subarray(0, attr.offset)) ^ FINGERPRINT_XOR) >>> 0 === u32(attr.value, 0);
}

// ---------------------------------------------------------------------------------------------
// building
// ---------------------------------------------------------------------------------------------

export interface StunAttributeInput {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface StunMessageInput {
  readonly method: number;
  readonly messageClass: StunClass;
  /** 12 bytes; newTransactionId() for a new request, the request's for its response. */
  readonly transactionId: Uint8Array;
  /** Written in order, each padded to 4 bytes. Parsed attributes can be passed back as they are. */
  readonly attributes?: readonly StunAttributeInput[] | undefined;
}

export interface StunBuildOptions {
  /** Append MESSAGE-INTEGRITY, HMAC-SHA1 with this key (RFC 8489 §14.5). */
  readonly integrityKey?: Uint8Array | undefined;
  /** Append MESSAGE-INTEGRITY-SHA256, HMAC-SHA256 with this key (§14.6), after MESSAGE-INTEGRITY. */
  readonly integritySha256Key?: Uint8Array | undefined;
  /** Truncate MESSAGE-INTEGRITY-SHA256 to this many bytes: 16–32, a multiple of 4. Default 32. */
  readonly integritySha256Length?: number | undefined;
  /** Append FINGERPRINT last (§14.7). */
  readonly fingerprint?: boolean | undefined;
  /**
   * The byte padding is made of. Receivers ignore padding (RFC 8489 §14), so 0 (the default) is
   * right for real traffic; it is settable so tests can reproduce the RFC 5769 vectors, which
   * pad with spaces, byte for byte.
   */
  readonly paddingByte?: number | undefined;
}

/** A fresh random 96-bit transaction id (RFC 8489 §6: uniformly random, from a CSPRNG). */
export function newTransactionId(): Uint8Array {
  return randomBytes(TRANSACTION_ID_LENGTH);
}

function invalid(message: string): StunError {
  return new StunError('invalid_argument', message);
}

/**
 * Serialises a message: header, the given attributes in order, then MESSAGE-INTEGRITY,
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT as the options ask, each computed over what
 * precedes it with the length field adjusted as RFC 8489 §14.5–§14.7 say. Throws StunError
 * ('invalid_argument', or 'too_large' with code 'payload_too_large') for a message that
 * parseStunMessage would refuse.
 */
export function buildStunMessage(input: StunMessageInput, options: StunBuildOptions = {}): Uint8Array {
  const type = encodeMessageType(input.method, input.messageClass);
  const transactionId = input.transactionId;
  if (!(transactionId instanceof Uint8Array) || transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw invalid(`STUN transaction id must be ${TRANSACTION_ID_LENGTH} bytes`);
  }
  const attributes = input.attributes ?? [];
  const paddingByte = options.paddingByte ?? 0;
  if (!Number.isInteger(paddingByte) || paddingByte < 0 || paddingByte > 0xff) throw invalid('STUN padding byte must be an integer in 0–255');
  const sha256Length = options.integritySha256Length ?? 32;
  if (!Number.isInteger(sha256Length) || sha256Length < 16 || sha256Length > 32 || sha256Length % 4 !== 0) {
    throw invalid('MESSAGE-INTEGRITY-SHA256 length must be 16, 20, 24, 28 or 32 bytes');
  }
  const trailers = (options.integrityKey ? 1 : 0) + (options.integritySha256Key ? 1 : 0) + (options.fingerprint ? 1 : 0);

  let total = HEADER_LENGTH;
  attributes.forEach((a, i) => {
    if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0xffff)
      throw invalid(`STUN attribute type must be an integer in 0x0000–0xFFFF, got ${String(a.type)}`);
    if (!(a.value instanceof Uint8Array)) throw invalid(`STUN attribute ${attributeName(a.type)} value must be a Uint8Array`);
    if (a.value.length > 0xffff) throw invalid(`STUN attribute ${attributeName(a.type)} value is ${a.value.length} bytes, over 65535`);
    if (a.type === ATTR.FINGERPRINT && (i !== attributes.length - 1 || trailers > 0)) {
      throw invalid('FINGERPRINT must be the last attribute (use the fingerprint option to compute it)');
    }
    total += 4 + padded(a.value.length);
  });
  if (options.integrityKey) total += 4 + 20;
  if (options.integritySha256Key) total += 4 + sha256Length;
  if (options.fingerprint) total += 4 + 4;
  if (attributes.length + trailers > MAX_ATTRIBUTES) throw invalid(`STUN message would have more than ${MAX_ATTRIBUTES} attributes`);
  if (total > MAX_MESSAGE_BYTES) {
    throw new StunError('too_large', `STUN message would be ${total} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`, 'payload_too_large');
  }

  const out = new Uint8Array(total);
  const setLength = (length: number): void => {
    out[2] = length >>> 8;
    out[3] = length & 0xff;
  };
  out[0] = type >>> 8;
  out[1] = type & 0xff;
  out[4] = MAGIC_COOKIE >>> 24;
  out[5] = (MAGIC_COOKIE >>> 16) & 0xff;
  out[6] = (MAGIC_COOKIE >>> 8) & 0xff;
  out[7] = MAGIC_COOKIE & 0xff;
  out.set(transactionId, 8);

  let offset = HEADER_LENGTH;
  const write = (attrType: number, value: Uint8Array): void => {
    out[offset] = attrType >>> 8;
    out[offset + 1] = attrType & 0xff;
    out[offset + 2] = value.length >>> 8;
    out[offset + 3] = value.length & 0xff;
    out.set(value, offset + 4);
    const end = offset + 4 + padded(value.length);
    if (paddingByte !== 0) out.fill(paddingByte, offset + 4 + value.length, end);
    offset = end;
  };
  for (const a of attributes) write(a.type, a.value);

  if (options.integrityKey) {
    setLength(offset - HEADER_LENGTH + 4 + 20);
    write(ATTR.MESSAGE_INTEGRITY, hmacSha1(options.integrityKey, out.subarray(0, offset)));
  }
  if (options.integritySha256Key) {
    setLength(offset - HEADER_LENGTH + 4 + sha256Length);
    write(ATTR.MESSAGE_INTEGRITY_SHA256, hmacSha256(options.integritySha256Key, out.subarray(0, offset)).subarray(0, sha256Length));
  }
  if (options.fingerprint) {
    setLength(offset - HEADER_LENGTH + 4 + 4);
    const fp = (crc32(out.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
    write(ATTR.FINGERPRINT, new Uint8Array([fp >>> 24, (fp >>> 16) & 0xff, (fp >>> 8) & 0xff, fp & 0xff]));
  }
  setLength(total - HEADER_LENGTH);
  return out;
}
