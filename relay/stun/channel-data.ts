/**
 * TURN ChannelData messages (RFC 8656 §12.4), and the framer that splits a TCP (or TLS) byte
 * stream into STUN messages and ChannelData messages (RFC 8656 §12.5).
 *
 *   Channel Number (16) | Length (16) | Application Data (Length bytes) | padding to 4
 *
 * ChannelData is the 4-byte-overhead alternative to Send/Data indications once a client has
 * bound a channel to a peer. Its first two bits are 01 (channels are 0x4000–0x4FFF), where a
 * STUN message's are 00: that is how both share one transport (RFC 7983's demultiplexing).
 *
 * Over UDP padding is optional (a datagram is one message); over TCP it is mandatory, since the
 * next message starts at the next multiple of 4. A TCP stream that loses framing cannot be
 * resynchronised, so the framer fails for good on the first bad header and the server must
 * close the connection.
 *
 * Errors are StunError (message.ts): code 'bad_request', or 'payload_too_large' with reason
 * 'too_large' when a frame is bigger than the framer may buffer. Parsed data is a view into the
 * input; frames from the framer are their own copies.
 */
import { CHANNEL_DATA_HEADER_LENGTH, HEADER_LENGTH, MAGIC_COOKIE, MAX_CHANNEL, MAX_MESSAGE_BYTES, MIN_CHANNEL } from './constants.ts';
import { isStunMessage, padded, StunError } from './message.ts';

export type Transport = 'udp' | 'tcp';

export interface ChannelData {
  /** 0x4000–0x4FFF. */
  readonly channel: number;
  /** A view into the parsed bytes. */
  readonly data: Uint8Array;
}

/** Largest application data one ChannelData message can carry (the 16-bit length). */
export const MAX_CHANNEL_DATA_LENGTH = 0xffff;
/** Largest ChannelData message over TCP: header, 65535 bytes, 1 byte of padding. */
export const MAX_CHANNEL_DATA_FRAME = CHANNEL_DATA_HEADER_LENGTH + padded(MAX_CHANNEL_DATA_LENGTH);

function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Quick check for demultiplexing: at least a ChannelData header and first two bits 01. */
export function isChannelData(bytes: Uint8Array): boolean {
  return bytes instanceof Uint8Array && bytes.length >= CHANNEL_DATA_HEADER_LENGTH && (bytes[0]! & 0xc0) === 0x40;
}

export type PacketKind = 'stun' | 'channel_data' | 'other';

/** What a datagram on the TURN port looks like, before parsing it (RFC 7983 §7). */
export function classifyPacket(bytes: Uint8Array): PacketKind {
  if (isStunMessage(bytes)) return 'stun';
  if (isChannelData(bytes)) return 'channel_data';
  return 'other';
}

function checkChannel(channel: number): void {
  if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) {
    throw new StunError('bad_channel_number', `ChannelData channel number ${hex(channel)} is outside 0x4000–0x4FFF`);
  }
}

/**
 * Parses one ChannelData message: a whole UDP datagram (padding optional) or a whole TCP frame
 * (padding required, as TurnStreamFramer produces). Throws StunError otherwise.
 */
export function parseChannelData(bytes: Uint8Array, transport: Transport = 'udp'): ChannelData {
  if (!(bytes instanceof Uint8Array)) throw new StunError('not_bytes', 'ChannelData message must be a Uint8Array');
  if (bytes.length < CHANNEL_DATA_HEADER_LENGTH) {
    throw new StunError('truncated', `ChannelData message is ${bytes.length} bytes, shorter than the 4-byte header`);
  }
  if ((bytes[0]! & 0xc0) !== 0x40) throw new StunError('not_channel_data', 'not a ChannelData message: the first two bits must be 01');
  const channel = u16(bytes, 0);
  checkChannel(channel);
  const length = u16(bytes, 2);
  const end = CHANNEL_DATA_HEADER_LENGTH + length;
  if (end > bytes.length) {
    throw new StunError('truncated', `ChannelData header announces ${length} bytes of data but only ${bytes.length - CHANNEL_DATA_HEADER_LENGTH} arrived`);
  }
  const paddedEnd = CHANNEL_DATA_HEADER_LENGTH + padded(length);
  if (transport === 'tcp' ? bytes.length !== paddedEnd : bytes.length > paddedEnd) {
    const what =
      transport === 'tcp' && bytes.length < paddedEnd
        ? 'is missing the padding to 4 bytes that TCP requires'
        : `has ${bytes.length - paddedEnd} bytes after its padding`;
    throw new StunError(bytes.length < paddedEnd ? 'truncated' : 'trailing_bytes', `ChannelData message ${what}`);
  }
  return { channel, data: bytes.subarray(CHANNEL_DATA_HEADER_LENGTH, end) };
}

/** Serialises a ChannelData message; padded to 4 bytes for TCP, unpadded for UDP. */
export function buildChannelData(channel: number, data: Uint8Array, transport: Transport = 'udp'): Uint8Array {
  if (!Number.isInteger(channel) || channel < MIN_CHANNEL || channel > MAX_CHANNEL) {
    throw new StunError('invalid_argument', `ChannelData channel number must be in 0x4000–0x4FFF, got ${String(channel)}`);
  }
  if (!(data instanceof Uint8Array)) throw new StunError('invalid_argument', 'ChannelData data must be a Uint8Array');
  if (data.length > MAX_CHANNEL_DATA_LENGTH) {
    throw new StunError('too_large', `ChannelData carries at most ${MAX_CHANNEL_DATA_LENGTH} bytes, got ${data.length}`, 'payload_too_large');
  }
  const out = new Uint8Array(CHANNEL_DATA_HEADER_LENGTH + (transport === 'tcp' ? padded(data.length) : data.length));
  out[0] = channel >>> 8;
  out[1] = channel & 0xff;
  out[2] = data.length >>> 8;
  out[3] = data.length & 0xff;
  out.set(data, CHANNEL_DATA_HEADER_LENGTH);
  return out;
}

// ---------------------------------------------------------------------------------------------
// TCP framing
// ---------------------------------------------------------------------------------------------

export interface StreamFrame {
  readonly kind: 'stun' | 'channel_data';
  /** One whole message, ready for parseStunMessage / parseChannelData(…, 'tcp'). Owned: a copy. */
  readonly bytes: Uint8Array;
}

export interface StreamFramerOptions {
  /**
   * Largest frame the framer will wait for, and so the most it buffers for one connection.
   * Default MAX_CHANNEL_DATA_FRAME (65540), which admits every valid STUN and ChannelData message;
   * a lower value refuses larger frames with StunError('too_large').
   */
  readonly maxBufferedBytes?: number | undefined;
}

/** Bytes needed to know a frame's size: STUN needs type, length and cookie; ChannelData its header. */
const STUN_SIZE_PREFIX = 8;

export class TurnStreamFramer {
  readonly #maxBuffered: number;
  /**
   * The incomplete frame at the end of what was pushed so far. It grows with the bytes that
   * actually arrive (doubling, capped at the frame's size), never to the size a header merely
   * claims: eight bytes from a client must not pin 64 KiB.
   */
  #pending = new Uint8Array(0);
  #pendingLength = 0;
  #failure: StunError | undefined;

  constructor(options: StreamFramerOptions = {}) {
    const max = options.maxBufferedBytes ?? MAX_CHANNEL_DATA_FRAME;
    if (!Number.isInteger(max) || max < HEADER_LENGTH) {
      throw new StunError('invalid_argument', `maxBufferedBytes must be an integer of at least ${HEADER_LENGTH}`);
    }
    this.#maxBuffered = max;
  }

  /** Bytes of an incomplete frame held until more arrive. */
  get bufferedBytes(): number {
    return this.#pendingLength;
  }

  /** True once push has thrown: the stream is out of step and the connection must be closed. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Feeds the next chunk read from the connection; returns the frames it completes, in order.
   * Throws StunError when the stream cannot be framed, and the same error on every later call;
   * frames completed earlier in the failing chunk are not returned (the connection is closing).
   */
  push(chunk: Uint8Array): StreamFrame[] {
    if (this.#failure) throw this.#failure;
    try {
      if (!(chunk instanceof Uint8Array)) throw new StunError('not_bytes', 'TCP chunk must be a Uint8Array');
      return this.#consume(chunk);
    } catch (e) {
      // Anything but a StunError is a bug here: it still poisons the stream, but escapes as itself.
      this.#failure = e instanceof StunError ? e : new StunError('bad_framing', 'TCP stream could not be framed');
      throw e;
    }
  }

  /** How many bytes a frame starting with this byte needs to reveal its size. Throws if it is neither kind. */
  #prefixLength(first: number): number {
    const top = first >>> 6;
    if (top === 0) return STUN_SIZE_PREFIX;
    if (top === 1) return CHANNEL_DATA_HEADER_LENGTH;
    throw new StunError(
      'bad_framing',
      `TCP stream is out of step: byte 0x${first.toString(16).padStart(2, '0')} starts neither a STUN nor a ChannelData message`,
    );
  }

  /** Size of the frame at b[at], whose prefix is complete. Throws for a header no valid frame has. */
  #frameSize(b: Uint8Array, at: number): number {
    let size: number;
    if ((b[at]! & 0xc0) === 0) {
      const cookie = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
      if (cookie !== MAGIC_COOKIE) throw new StunError('bad_cookie', 'TCP stream is out of step: a STUN message without the magic cookie');
      const length = u16(b, at + 2);
      if (length % 4 !== 0) throw new StunError('bad_length', `TCP stream is out of step: STUN message length ${length} is not a multiple of 4`);
      size = HEADER_LENGTH + length;
      if (size > MAX_MESSAGE_BYTES) {
        throw new StunError('too_large', `STUN message of ${size} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`, 'payload_too_large');
      }
    } else {
      checkChannel(u16(b, at));
      size = CHANNEL_DATA_HEADER_LENGTH + padded(u16(b, at + 2));
    }
    if (size > this.#maxBuffered) {
      throw new StunError('too_large', `message of ${size} bytes is over this connection's ${this.#maxBuffered}-byte buffer`, 'payload_too_large');
    }
    return size;
  }

  #frame(bytes: Uint8Array): StreamFrame {
    return { kind: (bytes[0]! & 0xc0) === 0 ? 'stun' : 'channel_data', bytes };
  }

  #consume(chunk: Uint8Array): StreamFrame[] {
    const frames: StreamFrame[] = [];
    let pos = 0;

    // First finish the frame left incomplete by the previous chunk, if any. Each pass either
    // completes it, runs out of input, or copies at least one byte.
    while (this.#pendingLength > 0) {
      const have = this.#pendingLength;
      const prefix = this.#prefixLength(this.#pending[0]!);
      const want = have < prefix ? prefix : this.#frameSize(this.#pending, 0);
      if (have === want) {
        frames.push(this.#frame(this.#pending.length === want ? this.#pending : this.#pending.slice(0, want)));
        this.#pending = new Uint8Array(0);
        this.#pendingLength = 0;
        break;
      }
      if (pos === chunk.length) return frames;
      const n = Math.min(want - have, chunk.length - pos);
      if (this.#pending.length < have + n) {
        const grown = new Uint8Array(Math.min(want, Math.max(have + n, 2 * this.#pending.length)));
        grown.set(this.#pending.subarray(0, have));
        this.#pending = grown;
      }
      this.#pending.set(chunk.subarray(pos, pos + n), have);
      this.#pendingLength += n;
      pos += n;
    }

    // Then whole frames straight from the chunk.
    while (pos < chunk.length) {
      const available = chunk.length - pos;
      const prefix = this.#prefixLength(chunk[pos]!);
      const size = available < prefix ? -1 : this.#frameSize(chunk, pos);
      if (size < 0 || available < size) {
        // Keep the incomplete rest (a copy: the caller may reuse its chunk).
        this.#pending = chunk.slice(pos);
        this.#pendingLength = available;
        break;
      }
      frames.push(this.#frame(chunk.slice(pos, pos + size)));
      pos += size;
    }
    return frames;
  }
}
