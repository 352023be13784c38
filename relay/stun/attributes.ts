/**
 * Typed values of the STUN/TURN attributes a TURN server reads or writes (RFC 8489 §14,
 * RFC 8656 §14). message.ts handles the TLVs; each codec here turns one attribute's value bytes
 * into a typed value and back:
 *
 *   readAttribute(msg, codecs.xorPeerAddress)               → { family, address, port } | undefined
 *   encodeAttribute(codecs.lifetime, 600)                    → { type: 0x000D, value } for the builder
 *
 * Decoders throw StunError('bad_attribute') naming the attribute: a server answers 400 to a
 * request carrying one. They are strict about lengths and ranges and lenient exactly where the
 * RFCs say "ignored by the receiver" (reserved bits, RFFU bytes), so decode → encode → decode is
 * a fixed point but encode(decode(v)) may zero bits the sender set. Byte values (DATA,
 * RESERVATION-TOKEN, USERHASH, parameters) are views into the message, not copies. Encoders
 * throw StunError('invalid_argument') for values the RFCs forbid sending.
 *
 * Addresses are strings: dotted quad for IPv4; RFC 5952 canonical text for IPv6 (lower case,
 * longest zero run as "::", IPv4-mapped as ::ffff:a.b.c.d), so that equal addresses compare
 * equal as strings. parseIpAddress accepts any valid spelling (no zone ids); formatIpAddress
 * always produces the canonical one.
 */
import { fromUtf8, utf8 } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import {
  canonicalIpAddress as coreCanonicalIpAddress,
  formatIpAddress as coreFormatIpAddress,
  parseIpAddress as coreParseIpAddress,
} from '../../core/net/ip-address.ts';
import { ADDRESS_FAMILY, ATTR, ERROR_REASONS, MAGIC_COOKIE, MAX_CHANNEL, MIN_CHANNEL, TRANSACTION_ID_LENGTH } from './constants.ts';
import { getAttribute, getAttributes, StunError, type StunAttributeInput, type StunMessage } from './message.ts';

/** Decodes to T; encodes from In, which is T or something T is assignable to (fewer required fields). */
export interface AttributeCodec<T, In = T> {
  readonly type: number;
  /** RFC name, for error messages. */
  readonly name: string;
  /** `transactionId` is needed by the XOR-*-ADDRESS codecs only. */
  decode(value: Uint8Array, transactionId?: Uint8Array): T;
  encode(value: In, transactionId?: Uint8Array): Uint8Array;
}

/** The first significant attribute of the codec's type, decoded; undefined when absent. */
export function readAttribute<T, In>(msg: StunMessage, codec: AttributeCodec<T, In>): T | undefined {
  const attr = getAttribute(msg, codec.type);
  return attr ? codec.decode(attr.value, msg.transactionId) : undefined;
}

/** Every significant attribute of the codec's type, decoded, in order. */
export function readAttributes<T, In>(msg: StunMessage, codec: AttributeCodec<T, In>): T[] {
  return getAttributes(msg, codec.type).map((a) => codec.decode(a.value, msg.transactionId));
}

/** An attribute ready for buildStunMessage. */
export function encodeAttribute<T, In>(codec: AttributeCodec<T, In>, value: NoInfer<In>, transactionId?: Uint8Array): StunAttributeInput {
  return { type: codec.type, value: codec.encode(value, transactionId) };
}

function bad(name: string, problem: string): StunError {
  return new StunError('bad_attribute', `STUN attribute ${name} ${problem}`);
}

function invalid(name: string, problem: string): StunError {
  return new StunError('invalid_argument', `cannot encode STUN attribute ${name}: ${problem}`);
}

function expectLength(name: string, value: Uint8Array, length: number): void {
  if (value.length !== length) throw bad(name, `must be ${length} bytes, got ${value.length}`);
}

function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

// ---------------------------------------------------------------------------------------------
// IP addresses
// ---------------------------------------------------------------------------------------------

export type AddressFamily = 'ipv4' | 'ipv6';

export interface TransportAddress {
  readonly family: AddressFamily;
  /** Canonical text: "192.0.2.1", "2001:db8::1". */
  readonly address: string;
  readonly port: number;
}

/** What the encoders need; the family follows from the address. */
export interface TransportAddressInput {
  readonly address: string;
  readonly port: number;
}

// The text forms live in core/net/ip-address.ts (the gateway judges targets with them too); here
// they throw StunError, which the server answers with 400 and the codec tests expect.
function asStunError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PosternError && !(e instanceof StunError)) throw new StunError('invalid_argument', e.message);
    throw e;
  }
}

/** 4 bytes for IPv4 text, 16 for IPv6 text. Throws StunError('invalid_argument') otherwise. */
export function parseIpAddress(text: string): Uint8Array {
  return asStunError(() => coreParseIpAddress(text));
}

/** Canonical text for 4 or 16 address bytes (RFC 5952 for IPv6). */
export function formatIpAddress(bytes: Uint8Array): string {
  return asStunError(() => coreFormatIpAddress(bytes));
}

/** Canonical text of any accepted spelling: canonicalIpAddress("2001:DB8:0:0::1") === "2001:db8::1". */
export function canonicalIpAddress(text: string): string {
  return asStunError(() => coreCanonicalIpAddress(text));
}

// ---------------------------------------------------------------------------------------------
// (XOR-)MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (RFC 8489 §14.1–§14.2)
//
//   0 0 0 0 0 0 0 0 | Family (8) | Port (16) | Address (32 or 128 bits)
//
// The XOR forms XOR the port with the cookie's top 16 bits and the address with the cookie
// (IPv4) or cookie ‖ transaction id (IPv6), so that NATs rewriting addresses in payloads leave
// them alone.
// ---------------------------------------------------------------------------------------------

function xorMask(name: string, transactionId: Uint8Array | undefined): Uint8Array {
  if (!(transactionId instanceof Uint8Array) || transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new StunError('invalid_argument', `STUN attribute ${name} needs the message's 12-byte transaction id`);
  }
  const mask = new Uint8Array(16);
  mask[0] = MAGIC_COOKIE >>> 24;
  mask[1] = (MAGIC_COOKIE >>> 16) & 0xff;
  mask[2] = (MAGIC_COOKIE >>> 8) & 0xff;
  mask[3] = MAGIC_COOKIE & 0xff;
  mask.set(transactionId, 4);
  return mask;
}

function addressCodec(type: number, name: string, xor: boolean): AttributeCodec<TransportAddress, TransportAddressInput> {
  return {
    type,
    name,
    decode(value, transactionId) {
      const mask = xor ? xorMask(name, transactionId) : undefined;
      if (value.length < 4) throw bad(name, `is ${value.length} bytes, too short for an address`);
      const family = value[1];
      const size = family === ADDRESS_FAMILY.IPV4 ? 4 : family === ADDRESS_FAMILY.IPV6 ? 16 : 0;
      if (size === 0) throw bad(name, `has unknown address family ${family} (1 is IPv4, 2 is IPv6)`);
      expectLength(name, value, 4 + size);
      const address = value.slice(4);
      let port = u16(value, 2);
      if (mask) {
        port ^= MAGIC_COOKIE >>> 16;
        for (let i = 0; i < size; i++) address[i]! ^= mask[i]!;
      }
      return { family: size === 4 ? 'ipv4' : 'ipv6', address: formatIpAddress(address), port };
    },
    encode(input, transactionId) {
      const mask = xor ? xorMask(name, transactionId) : undefined;
      if (!isUint(input?.port, 0xffff)) throw invalid(name, 'port must be an integer in 0–65535');
      let address: Uint8Array;
      try {
        address = parseIpAddress(input.address);
      } catch {
        throw invalid(name, `not an IPv4 or IPv6 address: ${JSON.stringify(String(input.address).slice(0, 64))}`);
      }
      const out = new Uint8Array(4 + address.length);
      out[1] = address.length === 4 ? ADDRESS_FAMILY.IPV4 : ADDRESS_FAMILY.IPV6;
      const port = mask ? input.port ^ (MAGIC_COOKIE >>> 16) : input.port;
      out[2] = port >>> 8;
      out[3] = port & 0xff;
      for (let i = 0; i < address.length; i++) out[4 + i] = mask ? address[i]! ^ mask[i]! : address[i]!;
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// text: USERNAME, REALM, NONCE, SOFTWARE (RFC 8489 §14.3, §14.9, §14.10, §14.14)
// ---------------------------------------------------------------------------------------------

interface TextLimits {
  /** Most bytes accepted when decoding (RFC 8489 keeps 763 for RFC 5389 compatibility). */
  readonly decodeBytes: number;
  /** Most bytes we send. */
  readonly encodeBytes: number;
  /** Most characters (code points), both ways: "fewer than 128 characters". */
  readonly chars: number;
}

function countCodePoints(s: string, stopAfter: number): number {
  let n = 0;
  for (const _ of s) if (++n > stopAfter) break;
  return n;
}

function textCodec(type: number, name: string, limits: TextLimits): AttributeCodec<string> {
  return {
    type,
    name,
    decode(value) {
      if (value.length > limits.decodeBytes) throw bad(name, `is ${value.length} bytes, over ${limits.decodeBytes}`);
      let text: string;
      try {
        text = fromUtf8(value);
      } catch {
        throw bad(name, 'is not valid UTF-8');
      }
      if (countCodePoints(text, limits.chars) > limits.chars) throw bad(name, `is over ${limits.chars} characters`);
      return text;
    },
    encode(text) {
      if (typeof text !== 'string') throw invalid(name, 'must be a string');
      const bytes = utf8(text);
      if (bytes.length > limits.encodeBytes) throw invalid(name, `${bytes.length} bytes of UTF-8, over ${limits.encodeBytes}`);
      if (countCodePoints(text, limits.chars) > limits.chars) throw invalid(name, `over ${limits.chars} characters`);
      return bytes;
    },
  };
}

/**
 * USERNAME: RFC 8489 §14.3 says send fewer than 509 bytes and accept up to 763 (RFC 5389
 * allowed "less than 513"), with no character limit.
 */
const USERNAME_LIMITS: TextLimits = { decodeBytes: 763, encodeBytes: 508, chars: 763 };
/** REALM, NONCE, SOFTWARE, reason phrase: fewer than 128 characters (at most 4 bytes each in UTF-8). */
const SHORT_TEXT_LIMITS: TextLimits = { decodeBytes: 763, encodeBytes: 508, chars: 127 };

// ---------------------------------------------------------------------------------------------
// ERROR-CODE (RFC 8489 §14.8): 21 reserved bits | Class (3) | Number (8) | Reason Phrase
// ---------------------------------------------------------------------------------------------

export interface ErrorCodeValue {
  /** 300–699. */
  readonly code: number;
  readonly reason: string;
}

export interface ErrorCodeInput {
  readonly code: number;
  /** Default: the RFC's phrase for the code (ERROR_REASONS), or none. */
  readonly reason?: string | undefined;
}

const reasonPhrase = textCodec(ATTR.ERROR_CODE, 'ERROR-CODE reason phrase', SHORT_TEXT_LIMITS);

const errorCode: AttributeCodec<ErrorCodeValue, ErrorCodeInput> = {
  type: ATTR.ERROR_CODE,
  name: 'ERROR-CODE',
  decode(value) {
    if (value.length < 4) throw bad('ERROR-CODE', `is ${value.length} bytes, shorter than 4`);
    const cls = value[2]! & 0x07;
    const number = value[3]!;
    if (cls < 3 || cls > 6 || number > 99) throw bad('ERROR-CODE', `has an impossible code (class ${cls}, number ${number}); codes are 300–699`);
    return { code: cls * 100 + number, reason: reasonPhrase.decode(value.subarray(4)) };
  },
  encode(input) {
    if (!isUint(input?.code, 699) || input.code < 300) throw invalid('ERROR-CODE', 'code must be an integer in 300–699');
    const reason = reasonPhrase.encode(input.reason ?? ERROR_REASONS[input.code] ?? '');
    const out = new Uint8Array(4 + reason.length);
    out[2] = Math.floor(input.code / 100);
    out[3] = input.code % 100;
    out.set(reason, 4);
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// ADDRESS-ERROR-CODE (RFC 8656 §18.14): Family (8) | Rsvd (5) | Class (3) | Number (8) | Reason
// Sent in an Allocate success when one of two requested families could not be allocated.
// ---------------------------------------------------------------------------------------------

export interface AddressErrorCodeValue extends ErrorCodeValue {
  /** ADDRESS_FAMILY.IPV4 or .IPV6. */
  readonly family: number;
}

export interface AddressErrorCodeInput extends ErrorCodeInput {
  readonly family: number;
}

const addressErrorCode: AttributeCodec<AddressErrorCodeValue, AddressErrorCodeInput> = {
  type: ATTR.ADDRESS_ERROR_CODE,
  name: 'ADDRESS-ERROR-CODE',
  decode(value) {
    if (value.length < 4) throw bad('ADDRESS-ERROR-CODE', `is ${value.length} bytes, shorter than 4`);
    const { code, reason } = errorCode.decode(value);
    return { family: value[0]!, code, reason };
  },
  encode(input) {
    if (!isUint(input?.family, 0xff)) throw invalid('ADDRESS-ERROR-CODE', 'family must be an integer in 0–255');
    const out = errorCode.encode(input);
    out[0] = input.family;
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// numbers and flags
// ---------------------------------------------------------------------------------------------

const unknownAttributes: AttributeCodec<number[]> = {
  type: ATTR.UNKNOWN_ATTRIBUTES,
  name: 'UNKNOWN-ATTRIBUTES',
  decode(value) {
    if (value.length % 2 !== 0) throw bad('UNKNOWN-ATTRIBUTES', `length ${value.length} is odd; it is a list of 16-bit types`);
    const out: number[] = [];
    for (let i = 0; i < value.length; i += 2) out.push(u16(value, i));
    return out;
  },
  encode(types) {
    if (!Array.isArray(types) || !types.every((t) => isUint(t, 0xffff))) throw invalid('UNKNOWN-ATTRIBUTES', 'must be a list of 16-bit attribute types');
    if (types.length > 0x7fff) throw invalid('UNKNOWN-ATTRIBUTES', 'too many types');
    const out = new Uint8Array(types.length * 2);
    types.forEach((t, i) => {
      out[2 * i] = t >>> 8;
      out[2 * i + 1] = t & 0xff;
    });
    return out;
  },
};

/** A 32-bit unsigned number filling the whole value (LIFETIME). */
function u32Codec(type: number, name: string): AttributeCodec<number> {
  return {
    type,
    name,
    decode(value) {
      expectLength(name, value, 4);
      return u32(value, 0);
    },
    encode(n) {
      if (!isUint(n, 0xffffffff)) throw invalid(name, 'must be an integer in 0–4294967295');
      return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    },
  };
}

/** One byte followed by three RFFU bytes, ignored on receipt (REQUESTED-TRANSPORT, REQUESTED-ADDRESS-FAMILY). */
function byteCodec(type: number, name: string): AttributeCodec<number> {
  return {
    type,
    name,
    decode(value) {
      expectLength(name, value, 4);
      return value[0]!;
    },
    encode(n) {
      if (!isUint(n, 0xff)) throw invalid(name, 'must be an integer in 0–255');
      return new Uint8Array([n, 0, 0, 0]);
    },
  };
}

/** Opaque bytes, of a fixed length when `length` is given (RESERVATION-TOKEN, USERHASH, DATA). */
function bytesCodec(type: number, name: string, length?: number): AttributeCodec<Uint8Array> {
  return {
    type,
    name,
    decode(value) {
      if (length !== undefined) expectLength(name, value, length);
      return value;
    },
    encode(bytes) {
      if (!(bytes instanceof Uint8Array)) throw invalid(name, 'must be a Uint8Array');
      if (length !== undefined && bytes.length !== length) throw invalid(name, `must be ${length} bytes`);
      if (bytes.length > 0xffff) throw invalid(name, 'over 65535 bytes');
      return bytes;
    },
  };
}

/** CHANNEL-NUMBER (RFC 8656 §14.1): channel (16) | RFFU (16); only 0x4000–0x4FFF are channels. */
const channelNumber: AttributeCodec<number> = {
  type: ATTR.CHANNEL_NUMBER,
  name: 'CHANNEL-NUMBER',
  decode(value) {
    expectLength('CHANNEL-NUMBER', value, 4);
    const channel = u16(value, 0);
    if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) throw bad('CHANNEL-NUMBER', `0x${channel.toString(16).toUpperCase()} is outside 0x4000–0x4FFF`);
    return channel;
  },
  encode(channel) {
    if (!isUint(channel, MAX_CHANNEL) || channel < MIN_CHANNEL) throw invalid('CHANNEL-NUMBER', 'must be in 0x4000–0x4FFF');
    return new Uint8Array([channel >>> 8, channel & 0xff, 0, 0]);
  },
};

/** DONT-FRAGMENT (RFC 8656 §14.8): present or not, no value. */
const dontFragment: AttributeCodec<true> = {
  type: ATTR.DONT_FRAGMENT,
  name: 'DONT-FRAGMENT',
  decode(value) {
    expectLength('DONT-FRAGMENT', value, 0);
    return true;
  },
  encode() {
    return new Uint8Array(0);
  },
};

export interface EvenPortValue {
  /** The R bit: reserve the next-higher port too, for a later allocation (RESERVATION-TOKEN). */
  readonly reserveNextPort: boolean;
}

/** EVEN-PORT (RFC 8656 §14.6): one byte, R bit then 7 RFFU bits. */
const evenPort: AttributeCodec<EvenPortValue> = {
  type: ATTR.EVEN_PORT,
  name: 'EVEN-PORT',
  decode(value) {
    expectLength('EVEN-PORT', value, 1);
    return { reserveNextPort: (value[0]! & 0x80) !== 0 };
  },
  encode(v) {
    if (typeof v?.reserveNextPort !== 'boolean') throw invalid('EVEN-PORT', 'reserveNextPort must be a boolean');
    return new Uint8Array([v.reserveNextPort ? 0x80 : 0]);
  },
};

// ---------------------------------------------------------------------------------------------
// PASSWORD-ALGORITHM(S) (RFC 8489 §14.11–§14.12): Algorithm (16) | Parameters Length (16) |
// Parameters, padded to 4 bytes; PASSWORD-ALGORITHMS is a list of those.
// ---------------------------------------------------------------------------------------------

export interface PasswordAlgorithmValue {
  /** PASSWORD_ALGORITHM.MD5 or .SHA256 (others are possible on the wire). */
  readonly algorithm: number;
  /** Empty for MD5 and SHA-256. */
  readonly parameters: Uint8Array;
}

function decodeAlgorithmAt(name: string, value: Uint8Array, offset: number): { entry: PasswordAlgorithmValue; next: number } {
  if (value.length - offset < 4) throw bad(name, `has ${value.length - offset} stray bytes where an algorithm should start`);
  const length = u16(value, offset + 2);
  const next = offset + 4 + ((length + 3) & ~3);
  if (next > value.length) throw bad(name, `has algorithm parameters (${length} bytes) running past its end`);
  return { entry: { algorithm: u16(value, offset), parameters: value.subarray(offset + 4, offset + 4 + length) }, next };
}

function encodedAlgorithmLength(name: string, entry: PasswordAlgorithmValue): number {
  if (!isUint(entry?.algorithm, 0xffff)) throw invalid(name, 'algorithm must be a 16-bit number');
  if (!(entry.parameters instanceof Uint8Array) || entry.parameters.length > 0xffff) throw invalid(name, 'parameters must be at most 65535 bytes');
  return 4 + ((entry.parameters.length + 3) & ~3);
}

function writeAlgorithm(out: Uint8Array, offset: number, entry: PasswordAlgorithmValue): void {
  out[offset] = entry.algorithm >>> 8;
  out[offset + 1] = entry.algorithm & 0xff;
  out[offset + 2] = entry.parameters.length >>> 8;
  out[offset + 3] = entry.parameters.length & 0xff;
  out.set(entry.parameters, offset + 4);
}

const passwordAlgorithm: AttributeCodec<PasswordAlgorithmValue> = {
  type: ATTR.PASSWORD_ALGORITHM,
  name: 'PASSWORD-ALGORITHM',
  decode(value) {
    const { entry, next } = decodeAlgorithmAt('PASSWORD-ALGORITHM', value, 0);
    if (next !== value.length) throw bad('PASSWORD-ALGORITHM', `has ${value.length - next} bytes after its one algorithm`);
    return entry;
  },
  encode(entry) {
    const out = new Uint8Array(encodedAlgorithmLength('PASSWORD-ALGORITHM', entry));
    if (out.length > 0xffff) throw invalid('PASSWORD-ALGORITHM', 'over 65535 bytes');
    writeAlgorithm(out, 0, entry);
    return out;
  },
};

const passwordAlgorithms: AttributeCodec<PasswordAlgorithmValue[]> = {
  type: ATTR.PASSWORD_ALGORITHMS,
  name: 'PASSWORD-ALGORITHMS',
  decode(value) {
    const out: PasswordAlgorithmValue[] = [];
    // Each entry consumes at least 4 bytes, so at most value.length / 4 passes.
    for (let offset = 0; offset < value.length; ) {
      const { entry, next } = decodeAlgorithmAt('PASSWORD-ALGORITHMS', value, offset);
      out.push(entry);
      offset = next;
    }
    return out;
  },
  encode(entries) {
    if (!Array.isArray(entries)) throw invalid('PASSWORD-ALGORITHMS', 'must be a list');
    const lengths = entries.map((e) => encodedAlgorithmLength('PASSWORD-ALGORITHMS', e));
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total > 0xffff) throw invalid('PASSWORD-ALGORITHMS', 'over 65535 bytes');
    const out = new Uint8Array(total);
    let offset = 0;
    entries.forEach((e, i) => {
      writeAlgorithm(out, offset, e);
      offset += lengths[i]!;
    });
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// the codecs
// ---------------------------------------------------------------------------------------------

export const codecs = {
  mappedAddress: addressCodec(ATTR.MAPPED_ADDRESS, 'MAPPED-ADDRESS', false),
  xorMappedAddress: addressCodec(ATTR.XOR_MAPPED_ADDRESS, 'XOR-MAPPED-ADDRESS', true),
  xorPeerAddress: addressCodec(ATTR.XOR_PEER_ADDRESS, 'XOR-PEER-ADDRESS', true),
  xorRelayedAddress: addressCodec(ATTR.XOR_RELAYED_ADDRESS, 'XOR-RELAYED-ADDRESS', true),
  username: textCodec(ATTR.USERNAME, 'USERNAME', USERNAME_LIMITS),
  realm: textCodec(ATTR.REALM, 'REALM', SHORT_TEXT_LIMITS),
  nonce: textCodec(ATTR.NONCE, 'NONCE', SHORT_TEXT_LIMITS),
  software: textCodec(ATTR.SOFTWARE, 'SOFTWARE', SHORT_TEXT_LIMITS),
  errorCode,
  unknownAttributes,
  lifetime: u32Codec(ATTR.LIFETIME, 'LIFETIME'),
  /** An IANA protocol number: TRANSPORT.UDP (17) or, with RFC 6062, TRANSPORT.TCP; 442 otherwise. */
  requestedTransport: byteCodec(ATTR.REQUESTED_TRANSPORT, 'REQUESTED-TRANSPORT'),
  /** ADDRESS_FAMILY.IPV4 or .IPV6; any other number is well-formed and answered with 440. */
  requestedAddressFamily: byteCodec(ATTR.REQUESTED_ADDRESS_FAMILY, 'REQUESTED-ADDRESS-FAMILY'),
  /** RFC 8656 §18.13: asks for an IPv6 relayed address besides the IPv4 one (only IPV6 is valid). */
  additionalAddressFamily: byteCodec(ATTR.ADDITIONAL_ADDRESS_FAMILY, 'ADDITIONAL-ADDRESS-FAMILY'),
  addressErrorCode,
  data: bytesCodec(ATTR.DATA, 'DATA'),
  channelNumber,
  dontFragment,
  evenPort,
  reservationToken: bytesCodec(ATTR.RESERVATION_TOKEN, 'RESERVATION-TOKEN', 8),
  passwordAlgorithms,
  passwordAlgorithm,
  userhash: bytesCodec(ATTR.USERHASH, 'USERHASH', 32),
} as const;

/**
 * Every attribute type this codec understands, integrity and fingerprint included: the
 * `understood` set for unknownComprehensionRequired, unless a server understands less.
 */
export const UNDERSTOOD_ATTRIBUTES: ReadonlySet<number> = new Set([
  ...Object.values(codecs).map((c) => c.type),
  ATTR.MESSAGE_INTEGRITY,
  ATTR.MESSAGE_INTEGRITY_SHA256,
  ATTR.FINGERPRINT,
]);
