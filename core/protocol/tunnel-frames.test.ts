import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeFrame,
  encodeMessage,
  MAX_CLOSE_MESSAGE_BYTES,
  MAX_FRAME_PAYLOAD,
  MAX_WINDOW,
  TUNNEL_CLOSE_REASONS,
  TunnelFrameError,
  type TunnelFrame,
  type TunnelFrameErrorReason,
} from './tunnel-frames.ts';

const hex = (s: string): Uint8Array => Uint8Array.from((s.replace(/\s+/g, '').match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

function reasonOf(fn: () => unknown): TunnelFrameErrorReason | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (error) {
    expect(error).toBeInstanceOf(TunnelFrameError);
    return (error as TunnelFrameError).reason;
  }
}

const SAMPLES: TunnelFrame[] = [
  { type: 'data', id: 1, payload: new Uint8Array([1, 2, 3]) },
  { type: 'data', id: 0xffffffff, payload: new Uint8Array(300).fill(7) },
  { type: 'open', id: 1, window: 262144, target: { host: 'db.internal.example', port: 5432 } },
  { type: 'open', id: 2, window: 1, target: { host: 'fe80::1%eth0', port: 22 } },
  { type: 'open', id: 3, window: MAX_WINDOW },
  { type: 'opened', id: 9, window: 65536 },
  ...TUNNEL_CLOSE_REASONS.map((reason, i) => ({ type: 'close' as const, id: i + 1, reason, message: i % 2 ? 'connect ECONNREFUSED — ügh' : '' })),
  { type: 'eof', id: 77 },
  { type: 'window', id: 5, credit: 4096 },
  { type: 'ping', nonce: 0 },
  { type: 'pong', nonce: 0xffffffff },
];

describe('tunnel frames', () => {
  it('round-trips every kind of frame, alone and batched in one message', () => {
    for (const frame of SAMPLES) expect(decodeMessage(encodeFrame(frame))).toEqual([frame]);
    expect(decodeMessage(encodeMessage(SAMPLES))).toEqual(SAMPLES);
    // The largest payload (compared by hand: deep equality of 256 KiB is slow).
    const big = new Uint8Array(MAX_FRAME_PAYLOAD).map((_, i) => i * 7);
    const [frame] = decodeMessage(encodeFrame({ type: 'data', id: 3, payload: big }));
    expect(frame?.type === 'data' && frame.payload.length === big.length && frame.payload.every((b, i) => b === big[i])).toBe(true);
  });

  it('has the documented layout', () => {
    expect(toHex(encodeFrame({ type: 'data', id: 0x01020304, payload: new Uint8Array([0xaa, 0xbb]) }))).toBe('0102030400000002aabb');
    expect(toHex(encodeFrame({ type: 'open', id: 1, window: 0x40000, target: { host: 'h', port: 22 } }))).toBe(
      '000000000000000d' + '01' + '00000001' + '00040000' + '0016' + '01' + '68',
    );
    expect(toHex(encodeFrame({ type: 'close', id: 2, reason: 'not_allowed', message: 'no' }))).toBe(
      '0000000000000009' + '03' + '00000002' + '01' + '02' + '6e6f',
    );
    expect(toHex(encodeFrame({ type: 'ping', nonce: 5 }))).toBe('0000000000000005' + '06' + '00000005');
  });

  it('joins data given in parts', () => {
    const message = encodeMessage([{ type: 'data', id: 4, payload: [new Uint8Array([1]), new Uint8Array([2, 3])] }]);
    expect(decodeMessage(message)).toEqual([{ type: 'data', id: 4, payload: new Uint8Array([1, 2, 3]) }]);
  });

  it('cuts an overlong CLOSE message at a character boundary', () => {
    const [frame] = decodeMessage(encodeFrame({ type: 'close', id: 1, reason: 'refused', message: 'é'.repeat(150) }));
    expect(frame).toMatchObject({ type: 'close', message: 'é'.repeat(MAX_CLOSE_MESSAGE_BYTES / 2) });
  });

  it('rejects malformed messages with a stable reason', () => {
    const cases: [string, TunnelFrameErrorReason][] = [
      ['', 'empty'],
      ['00000001 000000', 'truncated'],
      ['00000001 00000003 aabb', 'truncated'],
      ['00000001 00000002 aabb 00', 'truncated'],
      ['00000001 00040001', 'too_large'],
      ['00000001 00000000', 'empty_data'],
      ['00000000 00000000', 'bad_length'],
      ['00000000 00000001 09', 'unknown_type'],
      ['00000000 00000005 04 00000000', 'reserved_id'],
      ['00000000 00000006 04 00000001 00', 'bad_length'],
      ['00000000 00000009 05 00000001 00000000', 'bad_window'],
      ['00000000 00000009 05 00000001 80000000', 'bad_window'],
      ['00000000 00000007 03 00000001 0c 00', 'bad_reason'],
      ['00000000 00000009 03 00000001 00 02 c328', 'bad_message'],
      ['00000000 00000008 03 00000001 00 02 41', 'bad_length'],
      ['00000000 0000000c 01 00000001 00000001 0016 00', 'bad_target'],
      ['00000000 0000000d 01 00000001 00000001 0000 01 68', 'bad_target'],
      ['00000000 0000000d 01 00000001 00000001 0016 01 20', 'bad_target'],
      ['00000000 0000000e 01 00000001 00000001 0016 01 6868', 'bad_length'],
      ['00000001 00000001 aa 00000000 00000001 09', 'unknown_type'],
    ];
    for (const [input, reason] of cases) expect([input, reasonOf(() => decodeMessage(hex(input)))]).toEqual([input, reason]);
    expect(reasonOf(() => decodeMessage('nope' as unknown as Uint8Array))).toBe('not_bytes');
    const error = (() => {
      try {
        decodeMessage(hex('00000001 00040001'));
      } catch (e) {
        return e as TunnelFrameError;
      }
    })()!;
    expect(error.code).toBe('payload_too_large');
  });

  it('refuses to encode what it would not decode', () => {
    const bad: unknown[] = [
      { type: 'data', id: 0, payload: new Uint8Array(1) },
      { type: 'data', id: 1, payload: new Uint8Array(0) },
      { type: 'data', id: 1, payload: new Uint8Array(MAX_FRAME_PAYLOAD + 1) },
      { type: 'open', id: 1, window: 0 },
      { type: 'open', id: 1, window: 1, target: { host: 'a b', port: 1 } },
      { type: 'open', id: 1, window: 1, target: { host: 'a', port: 70000 } },
      { type: 'window', id: 1, credit: MAX_WINDOW + 1 },
      { type: 'close', id: 1, reason: 'whatever', message: '' },
      { type: 'ping', nonce: -1 },
      { type: 'nope' },
    ];
    for (const frame of bad) expect(reasonOf(() => encodeFrame(frame as TunnelFrame))).toBe('invalid_argument');
    expect(reasonOf(() => encodeMessage([]))).toBe('invalid_argument');
  });
});
