/**
 * Tunnel frames: the bytes on the one ordered WebRTC data channel that carries every TCP
 * connection of a tunnel (core/tunnel/mux.ts speaks it; nobody else builds these bytes).
 *
 * One data-channel message holds one or more frames, back to back, none split across messages:
 *
 *   connection id (u32 BE) | payload length (u32 BE) | payload
 *
 * Connection ids 1…2³²−1 carry a connection's bytes (a data frame is never empty). Id 0 carries
 * exactly one control message per frame, first byte its type:
 *
 *   1 OPEN    id u32 | window u32 | port u16 | host length u8 | host   (no host: length 0, port 0)
 *   2 OPENED  id u32 | window u32
 *   3 CLOSE   id u32 | reason u8 | message length u8 (≤ 200) | message (UTF-8)
 *   4 EOF     id u32                                           (half-close: no more bytes from me)
 *   5 WINDOW  id u32 | credit u32                              (you may send `credit` more bytes)
 *   6 PING    nonce u32
 *   7 PONG    nonce u32
 *
 * `window` in OPEN/OPENED is the sender's initial receive window for that connection; WINDOW
 * adds to it. Windows stay within 1…2³¹−1 so that sums cannot lose precision.
 *
 * Decoding is strict: a truncated or overlong frame, an empty data frame, an unknown control
 * type, a control message with bytes left over, a connection id of 0 inside a control message,
 * a reason code we do not know, a host that is not a hostname or IP literal, a message that is
 * not UTF-8: each is a TunnelFrameError with a stable `reason`, and nothing else is ever thrown.
 * Data payloads are views into the received message (no copy).
 */
import { InputError } from '../errors.ts';

/** Bytes of a frame header. */
export const FRAME_HEADER_BYTES = 8;
/** Largest payload of one frame (a data-channel message is at most 256 KiB in practice). */
export const MAX_FRAME_PAYLOAD = 256 * 1024;
/** Largest receive window or credit one side may grant. */
export const MAX_WINDOW = 0x7fff_ffff;
/** Longest CLOSE message, in UTF-8 bytes. */
export const MAX_CLOSE_MESSAGE_BYTES = 200;
/** Longest host name (RFC 1035 names are ≤ 253 characters; IPv6 literals are shorter). */
export const MAX_HOST_BYTES = 253;
/** The connection id of control messages. */
export const CONTROL_ID = 0;
export const MAX_CONNECTION_ID = 0xffff_ffff;

/**
 * Why a connection (or the whole tunnel) closed. The index is the wire code, so only append.
 *   normal          closed by one side without error
 *   not_allowed     the gateway may not dial what was asked for
 *   refused         the target refused the TCP connection
 *   unreachable     the target's name does not resolve or its network is unreachable
 *   timeout         the target did not answer in time (or the gateway did not answer OPEN)
 *   reset           a socket failed or was reset mid-connection
 *   protocol_error  the peer sent bytes that break this protocol
 *   peer_timeout    the peer went silent past the keepalive limit
 *   channel_closed  the data channel closed under the tunnel
 *   busy            the gateway has too many connections on this tunnel
 *   shutdown        the tunnel is being stopped
 *   internal        a bug on the side that says so
 */
export const TUNNEL_CLOSE_REASONS = [
  'normal',
  'not_allowed',
  'refused',
  'unreachable',
  'timeout',
  'reset',
  'protocol_error',
  'peer_timeout',
  'channel_closed',
  'busy',
  'shutdown',
  'internal',
] as const;
export type TunnelCloseReason = (typeof TUNNEL_CLOSE_REASONS)[number];

export interface TunnelTarget {
  readonly host: string;
  readonly port: number;
}

export type ControlMessage =
  | { readonly type: 'open'; readonly id: number; readonly window: number; readonly target?: TunnelTarget | undefined }
  | { readonly type: 'opened'; readonly id: number; readonly window: number }
  | { readonly type: 'close'; readonly id: number; readonly reason: TunnelCloseReason; readonly message: string }
  | { readonly type: 'eof'; readonly id: number }
  | { readonly type: 'window'; readonly id: number; readonly credit: number }
  | { readonly type: 'ping'; readonly nonce: number }
  | { readonly type: 'pong'; readonly nonce: number };

export interface DataFrame {
  readonly type: 'data';
  readonly id: number;
  /** A view into the received message when decoded. */
  readonly payload: Uint8Array;
}

export type TunnelFrame = DataFrame | ControlMessage;

/** What encodeMessage accepts: a data frame's payload may be given in parts, copied once. */
export type EncodableFrame = TunnelFrame | { readonly type: 'data'; readonly id: number; readonly payload: readonly Uint8Array[] };

export type TunnelFrameErrorReason =
  | 'not_bytes' // the input is not a Uint8Array
  | 'empty' // a message with no frame in it
  | 'truncated' // a header or payload runs past the end of the message
  | 'too_large' // a payload over MAX_FRAME_PAYLOAD
  | 'empty_data' // a data frame with no payload
  | 'unknown_type' // a control type we do not know
  | 'bad_length' // a control message longer or shorter than its type says
  | 'reserved_id' // connection id 0 inside a control message
  | 'bad_window' // a window or credit of 0 or above MAX_WINDOW
  | 'bad_reason' // a CLOSE reason code we do not know
  | 'bad_message' // a CLOSE message that is not UTF-8 or is too long
  | 'bad_target' // an OPEN host that is not a hostname or IP literal, or a bad port
  | 'invalid_argument'; // a caller asked to encode something impossible

/** The one error the codec throws (stackless: see InputError). `reason` is stable; 'invalid_argument' is a caller's bug. */
export class TunnelFrameError extends InputError<TunnelFrameErrorReason> {
  constructor(reason: TunnelFrameErrorReason, message: string) {
    super(reason, reason === 'too_large' ? 'payload_too_large' : 'bad_request', message);
    this.name = 'TunnelFrameError';
  }
}

const TYPE = { open: 1, opened: 2, close: 3, eof: 4, window: 5, ping: 6, pong: 7 } as const;

const fail = (reason: TunnelFrameErrorReason, message: string): never => {
  throw new TunnelFrameError(reason, message);
};

/** Hostnames (letters, digits, '-', '_', '.'), IPv4 and IPv6 literals (with an optional zone). */
const HOST_CHARS = /^[A-Za-z0-9._:%-]+$/;

/** Whether OPEN can carry this target (a hostname or IP literal of ≤ 253 bytes, port 1–65535). */
export function isValidTunnelTarget(target: TunnelTarget): boolean {
  return typeof target === 'object' && target !== null && typeof target.host === 'string' && validTarget(target.host, target.port);
}

function validTarget(host: string, port: number): boolean {
  return host.length >= 1 && host.length <= MAX_HOST_BYTES && HOST_CHARS.test(host) && Number.isInteger(port) && port >= 1 && port <= 65535;
}

const validId = (id: number): boolean => Number.isInteger(id) && id >= 1 && id <= MAX_CONNECTION_ID;
const validWindow = (w: number): boolean => Number.isInteger(w) && w >= 1 && w <= MAX_WINDOW;
const validU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The control payload of a message (without the frame header); validates as the decoder would. */
function controlPayload(m: ControlMessage): Uint8Array {
  const bad = (what: string): never => fail('invalid_argument', `cannot encode ${m.type}: ${what}`);
  switch (m.type) {
    case 'open': {
      if (!validId(m.id)) bad('connection id');
      if (!validWindow(m.window)) bad('window');
      const host = m.target ? encoder.encode(m.target.host) : new Uint8Array(0);
      if (m.target && !validTarget(m.target.host, m.target.port)) bad('target');
      const out = new Uint8Array(12 + host.length);
      const v = new DataView(out.buffer);
      out[0] = TYPE.open;
      v.setUint32(1, m.id);
      v.setUint32(5, m.window);
      v.setUint16(9, m.target ? m.target.port : 0);
      out[11] = host.length;
      out.set(host, 12);
      return out;
    }
    case 'opened':
    case 'window': {
      const value = m.type === 'opened' ? m.window : m.credit;
      if (!validId(m.id)) bad('connection id');
      if (!validWindow(value)) bad(m.type === 'opened' ? 'window' : 'credit');
      const out = new Uint8Array(9);
      const v = new DataView(out.buffer);
      out[0] = TYPE[m.type];
      v.setUint32(1, m.id);
      v.setUint32(5, value);
      return out;
    }
    case 'close': {
      if (!validId(m.id)) bad('connection id');
      const reason = TUNNEL_CLOSE_REASONS.indexOf(m.reason);
      if (reason < 0) bad('reason');
      let text = encoder.encode(m.message);
      // Messages are for people; cut an overlong one at a character boundary rather than refuse.
      if (text.length > MAX_CLOSE_MESSAGE_BYTES) {
        let end = MAX_CLOSE_MESSAGE_BYTES;
        while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
        text = text.subarray(0, end);
      }
      const out = new Uint8Array(7 + text.length);
      new DataView(out.buffer).setUint32(1, m.id);
      out[0] = TYPE.close;
      out[5] = reason;
      out[6] = text.length;
      out.set(text, 7);
      return out;
    }
    case 'eof': {
      if (!validId(m.id)) bad('connection id');
      const out = new Uint8Array(5);
      out[0] = TYPE.eof;
      new DataView(out.buffer).setUint32(1, m.id);
      return out;
    }
    case 'ping':
    case 'pong': {
      if (!validU32(m.nonce)) bad('nonce');
      const out = new Uint8Array(5);
      out[0] = TYPE[m.type];
      new DataView(out.buffer).setUint32(1, m.nonce);
      return out;
    }
    default:
      return fail('invalid_argument', `unknown control message ${(m as { type?: unknown }).type as string}`);
  }
}

interface Planned {
  id: number;
  parts: readonly Uint8Array[];
  length: number;
}

function plan(frame: EncodableFrame): Planned {
  if (frame.type !== 'data') {
    const payload = controlPayload(frame);
    return { id: CONTROL_ID, parts: [payload], length: payload.length };
  }
  if (!validId(frame.id)) fail('invalid_argument', `data frame connection id ${frame.id} is not in 1…2³²−1`);
  const parts = frame.payload instanceof Uint8Array ? [frame.payload] : frame.payload;
  let length = 0;
  for (const p of parts) length += p.length;
  if (length === 0) fail('invalid_argument', 'a data frame cannot be empty');
  if (length > MAX_FRAME_PAYLOAD) fail('invalid_argument', `a data frame carries at most ${MAX_FRAME_PAYLOAD} bytes, not ${length}`);
  return { id: frame.id, parts, length };
}

/** One data-channel message holding `frames` in order. */
export function encodeMessage(frames: readonly EncodableFrame[]): Uint8Array {
  if (frames.length === 0) fail('invalid_argument', 'a message holds at least one frame');
  const planned = frames.map(plan);
  let total = 0;
  for (const p of planned) total += FRAME_HEADER_BYTES + p.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of planned) {
    view.setUint32(at, p.id);
    view.setUint32(at + 4, p.length);
    at += FRAME_HEADER_BYTES;
    for (const part of p.parts) {
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
}

export const encodeFrame = (frame: EncodableFrame): Uint8Array => encodeMessage([frame]);

function decodeControl(p: Uint8Array): ControlMessage {
  if (p.length === 0) fail('bad_length', 'control frame is empty');
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const type = p[0]!;
  const need = (n: number, name: string): void => {
    if (p.length !== n) fail('bad_length', `${name} is ${n} bytes, not ${p.length}`);
  };
  const id = (): number => {
    const value = v.getUint32(1);
    if (value === CONTROL_ID) fail('reserved_id', 'connection id 0 is reserved for control');
    return value;
  };
  const window = (at: number, what: string): number => {
    const value = v.getUint32(at);
    if (value === 0 || value > MAX_WINDOW) fail('bad_window', `${what} ${value} is not in 1…${MAX_WINDOW}`);
    return value;
  };
  switch (type) {
    case TYPE.open: {
      if (p.length < 12) fail('bad_length', `OPEN is at least 12 bytes, not ${p.length}`);
      const hostLength = p[11]!;
      need(12 + hostLength, 'OPEN');
      const port = v.getUint16(9);
      const base = { type: 'open' as const, id: id(), window: window(5, 'window') };
      if (hostLength === 0) {
        if (port !== 0) fail('bad_target', 'OPEN without a host must have port 0');
        return base;
      }
      let host = '';
      for (let i = 12; i < p.length; i++) host += String.fromCharCode(p[i]!);
      if (!validTarget(host, port)) fail('bad_target', 'OPEN target is not a valid host and port');
      return { ...base, target: { host, port } };
    }
    case TYPE.opened:
      need(9, 'OPENED');
      return { type: 'opened', id: id(), window: window(5, 'window') };
    case TYPE.close: {
      if (p.length < 7) fail('bad_length', `CLOSE is at least 7 bytes, not ${p.length}`);
      const length = p[6]!;
      need(7 + length, 'CLOSE');
      const connection = id();
      const reason = TUNNEL_CLOSE_REASONS[p[5]!];
      if (reason === undefined) fail('bad_reason', `CLOSE reason code ${p[5]!} is unknown`);
      if (length > MAX_CLOSE_MESSAGE_BYTES) fail('bad_message', `CLOSE message is over ${MAX_CLOSE_MESSAGE_BYTES} bytes`);
      let message = '';
      try {
        message = decoder.decode(p.subarray(7));
      } catch {
        fail('bad_message', 'CLOSE message is not UTF-8');
      }
      return { type: 'close', id: connection, reason: reason!, message };
    }
    case TYPE.eof:
      need(5, 'EOF');
      return { type: 'eof', id: id() };
    case TYPE.window:
      need(9, 'WINDOW');
      return { type: 'window', id: id(), credit: window(5, 'credit') };
    case TYPE.ping:
    case TYPE.pong:
      need(5, type === TYPE.ping ? 'PING' : 'PONG');
      return { type: type === TYPE.ping ? 'ping' : 'pong', nonce: v.getUint32(1) };
    default:
      return fail('unknown_type', `control type ${type} is unknown`);
  }
}

/**
 * Every frame of one data-channel message, in order. Throws TunnelFrameError, and only that,
 * when any part of the message is malformed (a message is accepted whole or not at all).
 */
export function decodeMessage(message: Uint8Array): TunnelFrame[] {
  if (!(message instanceof Uint8Array)) fail('not_bytes', 'a tunnel message must be a Uint8Array');
  if (message.length === 0) fail('empty', 'a tunnel message holds at least one frame');
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const frames: TunnelFrame[] = [];
  let at = 0;
  while (at < message.length) {
    if (message.length - at < FRAME_HEADER_BYTES) fail('truncated', `frame header at byte ${at} is cut short`);
    const id = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (length > MAX_FRAME_PAYLOAD) fail('too_large', `frame payload of ${length} bytes is over ${MAX_FRAME_PAYLOAD}`);
    const start = at + FRAME_HEADER_BYTES;
    if (start + length > message.length) fail('truncated', `frame at byte ${at} announces ${length} bytes, ${message.length - start} left`);
    const payload = message.subarray(start, start + length);
    if (id === CONTROL_ID) frames.push(decodeControl(payload));
    else if (length === 0) fail('empty_data', `data frame for connection ${id} is empty`);
    else frames.push({ type: 'data', id, payload });
    at = start + length;
  }
  return frames;
}
