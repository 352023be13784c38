import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../../core/crypto/index.ts';
import { mulberry32 } from '../../core/testing/prng.ts';
import {
  buildChannelData,
  classifyPacket,
  isChannelData,
  MAX_CHANNEL_DATA_FRAME,
  parseChannelData,
  TurnStreamFramer,
  type StreamFrame,
} from './channel-data.ts';
import { MAX_MESSAGE_BYTES, METHOD } from './constants.ts';
import { buildStunMessage, parseStunMessage, type StunErrorReason } from './message.ts';
import { RFC5769_TID, expectStunError, hex } from './testing/stun-expectations.ts';

const TID = RFC5769_TID;

describe('ChannelData (RFC 8656 §12.4)', () => {
  it('builds the header, padding only for TCP', () => {
    expect(toHex(buildChannelData(0x4000, hex('0102030405')))).toBe('400000050102030405');
    expect(toHex(buildChannelData(0x4000, hex('0102030405'), 'tcp'))).toBe('400000050102030405000000');
    expect(toHex(buildChannelData(0x4fff, new Uint8Array(0), 'tcp'))).toBe('4fff0000');
    expect(toHex(buildChannelData(0x4001, hex('01020304'), 'tcp'))).toBe('4001000401020304');
  });

  it('parses UDP datagrams with or without padding', () => {
    expect(parseChannelData(hex('400000050102030405'))).toEqual({ channel: 0x4000, data: hex('0102030405') });
    expect(parseChannelData(hex('400000050102030405000000'))).toEqual({ channel: 0x4000, data: hex('0102030405') });
    expect(parseChannelData(hex('4000000501020304050000'))).toEqual({ channel: 0x4000, data: hex('0102030405') });
    expect(parseChannelData(hex('4abc0000'))).toEqual({ channel: 0x4abc, data: new Uint8Array(0) });
  });

  it('requires the padding over TCP', () => {
    expect(parseChannelData(hex('400000050102030405000000'), 'tcp').data).toEqual(hex('0102030405'));
    expectStunError(() => parseChannelData(hex('400000050102030405'), 'tcp'), 'truncated');
    expectStunError(() => parseChannelData(hex('40000005010203040500000000'), 'tcp'), 'trailing_bytes');
  });

  it('returns a view, not a copy', () => {
    const bytes = hex('4000000401020304');
    expect(parseChannelData(bytes).data.buffer).toBe(bytes.buffer);
  });

  it('names each fault', () => {
    expectStunError(() => parseChannelData('x' as never), 'not_bytes');
    expectStunError(() => parseChannelData(hex('400000')), 'truncated');
    expectStunError(() => parseChannelData(hex('0001000401020304')), 'not_channel_data');
    expectStunError(() => parseChannelData(hex('8001000401020304')), 'not_channel_data');
    expectStunError(() => parseChannelData(hex('5000000401020304')), 'bad_channel_number');
    expectStunError(() => parseChannelData(hex('7fff000401020304')), 'bad_channel_number');
    expectStunError(() => parseChannelData(hex('40000005010203')), 'truncated');
    expectStunError(() => parseChannelData(hex('4000000101000000ff')), 'trailing_bytes');
  });

  it('refuses to build what it would not parse', () => {
    expectStunError(() => buildChannelData(0x3fff, new Uint8Array(1)), 'invalid_argument');
    expectStunError(() => buildChannelData(0x5000, new Uint8Array(1)), 'invalid_argument');
    expectStunError(() => buildChannelData(0x4000, 'x' as never), 'invalid_argument');
    const e = expectStunError(() => buildChannelData(0x4000, new Uint8Array(0x10000)), 'too_large');
    expect(e.code).toBe('payload_too_large');
    expect(buildChannelData(0x4000, new Uint8Array(0xffff), 'tcp').length).toBe(MAX_CHANNEL_DATA_FRAME);
  });
});

describe('demultiplexing (RFC 7983)', () => {
  it('tells STUN, ChannelData and anything else apart', () => {
    const stun = buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: TID });
    expect(classifyPacket(stun)).toBe('stun');
    expect(classifyPacket(buildChannelData(0x4000, utf8('hi')))).toBe('channel_data');
    expect(classifyPacket(hex('16fefd'))).toBe('other'); // DTLS
    expect(classifyPacket(hex('80'))).toBe('other'); // RTP
    expect(classifyPacket(new Uint8Array(0))).toBe('other');
    expect(isChannelData(hex('400000'))).toBe(false);
  });
});

describe('TurnStreamFramer (RFC 8656 §12.5)', () => {
  const stunA = buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: TID }, { fingerprint: true });
  const stunB = buildStunMessage({
    method: METHOD.ALLOCATE,
    messageClass: 'request',
    transactionId: TID,
    attributes: [{ type: 0x0019, value: hex('11000000') }],
  });
  const cd1 = buildChannelData(0x4000, hex('0102030405'), 'tcp');
  const cd0 = buildChannelData(0x4001, new Uint8Array(0), 'tcp');
  const stream = concatBytes(stunA, cd1, cd0, stunB, cd1);
  const expected: StreamFrame[] = [
    { kind: 'stun', bytes: stunA },
    { kind: 'channel_data', bytes: cd1 },
    { kind: 'channel_data', bytes: cd0 },
    { kind: 'stun', bytes: stunB },
    { kind: 'channel_data', bytes: cd1 },
  ];

  it('splits one chunk into its messages', () => {
    const framer = new TurnStreamFramer();
    expect(framer.push(stream)).toEqual(expected);
    expect(framer.bufferedBytes).toBe(0);
    expect(framer.push(new Uint8Array(0))).toEqual([]);
  });

  it('gives the same messages however the stream is cut, byte by byte included', () => {
    const one = new TurnStreamFramer();
    const frames: StreamFrame[] = [];
    for (let i = 0; i < stream.length; i++) frames.push(...one.push(stream.subarray(i, i + 1)));
    expect(frames).toEqual(expected);

    const rnd = mulberry32(0xf4a3e);
    for (let trial = 0; trial < 500; trial++) {
      const framer = new TurnStreamFramer();
      const got: StreamFrame[] = [];
      for (let pos = 0; pos < stream.length; ) {
        const n = Math.min(stream.length - pos, Math.floor(rnd() * 40));
        got.push(...framer.push(stream.subarray(pos, pos + n)));
        pos += n;
      }
      expect(got).toEqual(expected);
      expect(framer.bufferedBytes).toBe(0);
    }
  });

  it('hands out frames that parse, and that are copies', () => {
    const chunk = stream.slice();
    const frames = new TurnStreamFramer().push(chunk);
    chunk.fill(0);
    expect(parseStunMessage(frames[0]!.bytes).method).toBe(METHOD.BINDING);
    expect(parseChannelData(frames[1]!.bytes, 'tcp')).toEqual({ channel: 0x4000, data: hex('0102030405') });
  });

  it('buffers at most one incomplete message', () => {
    const framer = new TurnStreamFramer();
    expect(framer.push(stunB.subarray(0, 3))).toEqual([]);
    expect(framer.bufferedBytes).toBe(3);
    expect(framer.push(concatBytes(stunB.subarray(3), cd1.subarray(0, 6)))).toEqual([{ kind: 'stun', bytes: stunB }]);
    expect(framer.bufferedBytes).toBe(6);
    expect(framer.push(cd1.subarray(6))).toEqual([{ kind: 'channel_data', bytes: cd1 }]);
  });

  it('reassembles the largest ChannelData from small chunks', () => {
    const big = buildChannelData(
      0x4123,
      Uint8Array.from({ length: 0xffff }, (_, i) => i & 0xff),
      'tcp',
    );
    const framer = new TurnStreamFramer();
    const got: StreamFrame[] = [];
    for (let pos = 0; pos < big.length; pos += 1000) {
      got.push(...framer.push(big.subarray(pos, pos + 1000)));
      if (got.length === 0) expect(framer.bufferedBytes).toBe(Math.min(pos + 1000, big.length));
    }
    expect(got).toEqual([{ kind: 'channel_data', bytes: big }]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('fails for good when the stream is out of step', () => {
    const cases: [Uint8Array, StunErrorReason][] = [
      [hex('80'), 'bad_framing'],
      [hex('c0000000'), 'bad_framing'],
      [hex('00010000 2112a443'), 'bad_cookie'],
      [hex('00010005 2112a442'), 'bad_length'],
      [hex('50000004'), 'bad_channel_number'],
    ];
    for (const [bytes, reason] of cases) {
      const framer = new TurnStreamFramer();
      framer.push(stunA);
      expectStunError(() => framer.push(bytes), reason);
      expect(framer.failed).toBe(true);
      expectStunError(() => framer.push(stunA), reason);
    }
    expectStunError(() => new TurnStreamFramer().push('x' as never), 'not_bytes');
  });

  it('refuses a message larger than it may buffer, as soon as the header says so', () => {
    const small = new TurnStreamFramer({ maxBufferedBytes: 64 });
    expect(small.push(buildChannelData(0x4000, new Uint8Array(60), 'tcp'))).toHaveLength(1);
    const e = expectStunError(() => small.push(hex('40000041')), 'too_large');
    expect(e.code).toBe('payload_too_large');

    const stun = new TurnStreamFramer({ maxBufferedBytes: 64 });
    expectStunError(() => stun.push(hex('00010030 2112a442')), 'too_large');

    // Default: any valid ChannelData fits, a STUN header announcing more than 64 KiB does not.
    const framer = new TurnStreamFramer();
    expect(framer.push(buildChannelData(0x4000, new Uint8Array(0xffff), 'tcp'))).toHaveLength(1);
    expectStunError(() => framer.push(hex('0001fff0 2112a442')), 'too_large');
    expect(MAX_MESSAGE_BYTES).toBeLessThan(20 + 0xfff0);

    expectStunError(() => new TurnStreamFramer({ maxBufferedBytes: 19 }), 'invalid_argument');
  });
});
