/**
 * The numbers of the STUN/TURN wire format: header layout, methods, attribute types, error
 * codes and limits. Sources: RFC 8489 (STUN) §5, §14, §18; RFC 8656 (TURN) §13–§15, §18; and
 * the ICE attributes of RFC 8445 §16.1, named only so that logs and tests can print them (a
 * TURN server does not interpret them).
 *
 * Limits are Postern's, chosen so that nothing on the wire can make the codec allocate or loop
 * beyond what the bytes in hand justify. They are documented where they are defined.
 */

/** Fixed value in every RFC 5389/8489 header; distinguishes STUN from RFC 3489 and other traffic. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
/** 96 bits. */
export const TRANSACTION_ID_LENGTH = 12;
/** FINGERPRINT = CRC-32(message) XOR this ("STUN" in ASCII), RFC 8489 §14.7. */
export const FINGERPRINT_XOR = 0x5354554e;

/**
 * Largest STUN message accepted or built, header included. The 16-bit length field would allow
 * 20 + 65532 bytes; no UDP datagram can carry more than 65527 bytes of payload, so 64 KiB
 * loses nothing real and keeps every buffer below a round bound.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/**
 * Most attributes in one message. Real requests carry about ten (a CreatePermission with many
 * XOR-PEER-ADDRESSes a few more); the cap bounds the work a single datagram can cause.
 */
export const MAX_ATTRIBUTES = 64;

/** STUN message classes (RFC 8489 §5): the two bits C1 C0 of the message type. */
export type StunClass = 'request' | 'indication' | 'success' | 'error';
export const CLASS_BITS: Readonly<Record<StunClass, number>> = { request: 0b00, indication: 0b01, success: 0b10, error: 0b11 };
export const CLASSES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

/** STUN/TURN methods (RFC 8489 §18.2, RFC 8656 §17). 12 bits each. */
export const METHOD = {
  BINDING: 0x001,
  ALLOCATE: 0x003,
  REFRESH: 0x004,
  SEND: 0x006,
  DATA: 0x007,
  CREATE_PERMISSION: 0x008,
  CHANNEL_BIND: 0x009,
} as const;
export const MAX_METHOD = 0xfff;

/**
 * Attribute types. 0x0000–0x7FFF are comprehension-required (an agent that does not understand
 * one must reject the request with 420 and list it in UNKNOWN-ATTRIBUTES); 0x8000–0xFFFF are
 * comprehension-optional (ignored when not understood). RFC 8489 §14, §18.3.
 */
export const ATTR = {
  // RFC 8489 (STUN)
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REALM: 0x0014,
  NONCE: 0x0015,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
  // RFC 8656 (TURN)
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  RESERVATION_TOKEN: 0x0022,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  ICMP: 0x8004,
  // RFC 8445 (ICE), for naming only
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
} as const;

/** True for 0x0000–0x7FFF: an agent that does not understand the attribute must not ignore it. */
export function isComprehensionRequired(type: number): boolean {
  return type >= 0 && type < 0x8000;
}

const ATTR_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(ATTR).map(([name, type]) => [type, name.replaceAll('_', '-')]));

/** "XOR-PEER-ADDRESS", or "0x7F01" for a type we have no name for: for logs and error messages. */
export function attributeName(type: number): string {
  return ATTR_NAMES.get(type) ?? `0x${type.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** ERROR-CODE values and their RFC reason phrases (RFC 8489 §14.8, RFC 8656 §15). */
export const ERROR = {
  TRY_ALTERNATE: 300,
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  UNKNOWN_ATTRIBUTE: 420,
  ALLOCATION_MISMATCH: 437,
  STALE_NONCE: 438,
  ADDRESS_FAMILY_NOT_SUPPORTED: 440,
  WRONG_CREDENTIALS: 441,
  UNSUPPORTED_TRANSPORT_PROTOCOL: 442,
  PEER_ADDRESS_FAMILY_MISMATCH: 443,
  ALLOCATION_QUOTA_REACHED: 486,
  SERVER_ERROR: 500,
  INSUFFICIENT_CAPACITY: 508,
} as const;

export const ERROR_REASONS: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** Address families of the *-ADDRESS and REQUESTED-ADDRESS-FAMILY attributes. */
export const ADDRESS_FAMILY = { IPV4: 0x01, IPV6: 0x02 } as const;

/** IANA protocol numbers for REQUESTED-TRANSPORT (RFC 8656 §14.7; TCP is RFC 6062). */
export const TRANSPORT = { TCP: 6, UDP: 17 } as const;

/** PASSWORD-ALGORITHM(S) values (RFC 8489 §18.5). */
export const PASSWORD_ALGORITHM = { MD5: 0x0001, SHA256: 0x0002 } as const;

/**
 * TURN channel numbers (RFC 8656 §12): 0x4000–0x4FFF may be bound; 0x5000–0xFFFF are reserved.
 * The first two bits 01 are what separates ChannelData from STUN (00) on a shared transport.
 */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x4fff;
export const CHANNEL_DATA_HEADER_LENGTH = 4;
