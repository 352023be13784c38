/**
 * Randomised robustness of the STUN/TURN codec. Whatever arrives on the wire, only StunError
 * may come out of parseStunMessage, the attribute decoders, parseChannelData and the TCP
 * framer, and whatever parses re-serialises consistently:
 *
 *   - a parsed message rebuilt from its attributes is the input with its padding zeroed;
 *   - a decoded attribute value is a fixed point of encode → decode;
 *   - a parsed ChannelData message rebuilt is the input (modulo optional padding);
 *   - the TCP framer's frames are a prefix of the stream, each framed as its header says, and
 *     it never holds more than its limit.
 *
 * 100,000 random byte strings and 100,000 mutations of valid messages (the RFC 5769 / RFC 8489
 * vectors and builder output: bit flips, truncation, extension, length-field tampering,
 * attribute duplication and removal, splicing) each go through all of them. Every generator is
 * mulberry32 with a fixed seed, so a failure names its seed and iteration and reproduces.
 * Hot loops check with plain comparisons and throw with the offending input in hex; `expect`
 * is used for the totals.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, equalBytes, toHex, utf8 } from '../../core/crypto/index.ts';
import { mulberry32 } from '../../core/testing/prng.ts';
import { codecs, encodeAttribute, type AttributeCodec } from './attributes.ts';
import { buildChannelData, parseChannelData, TurnStreamFramer, type Transport } from './channel-data.ts';
import { ATTR, CLASSES, MAGIC_COOKIE, MAX_MESSAGE_BYTES, METHOD, PASSWORD_ALGORITHM } from './constants.ts';
import {
  buildStunMessage,
  padded,
  parseStunMessage,
  significantAttributes,
  StunError,
  unknownComprehensionRequired,
  verifyFingerprint,
  verifyMessageIntegrity,
  verifyMessageIntegritySha256,
  type StunAttributeInput,
  type StunMessage,
} from './message.ts';
import { hex } from './testing/stun-expectations.ts';

const RANDOM_INPUTS = 100_000;
const MUTATED_INPUTS = 100_000;
const KEY = utf8('VOkJxbRl1RmTxUk/WvJxBt');

// The vectors of message.test.ts, as the seeds of mutation.
const VECTORS = [
  hex(`000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36
       000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf`),
  hex(`0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643
       000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96`),
  hex(`010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
       00080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c`),
  hex(`000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c39
       4653547679363473410014000b6578616d706c652e6f72670000080014f67024656dd64a3e02b8e0712e85c9a28ca89666`),
  hex(`000100902112a44278ad3433c6ad72c029da412e001e00204a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704
       001500296f624d61744a6f733241414143662f2f3439396b39353464364f4c33346f4c394653547679363473410000000014000b6578616d706c652e6f726700
       001d000400020000001c0020b5c7bf005b6c52a21c51c5e892f81924136296cb927c43149309278cc6518e65`),
];

const CODECS = Object.values(codecs) as AttributeCodec<unknown>[];
const CODEC_BY_TYPE = new Map(CODECS.map((c) => [c.type, c]));

type Rng = () => number;
const int = (rnd: Rng, n: number): number => Math.floor(rnd() * n);
const pick = <T>(rnd: Rng, xs: readonly T[]): T => xs[int(rnd, xs.length)]!;

function randomBytes(rnd: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rnd, 256);
  return out;
}

/** Mostly short, sometimes long, rarely near the 64 KiB limit. */
function randomLength(rnd: Rng): number {
  const r = rnd();
  if (r < 0.6) return int(rnd, 48);
  if (r < 0.95) return int(rnd, 400);
  if (r < 0.999) return int(rnd, 4096);
  return MAX_MESSAGE_BYTES - 64 + int(rnd, 128);
}

// ---------------------------------------------------------------------------------------------
// invariants
// ---------------------------------------------------------------------------------------------

function fail(what: string, input: Uint8Array, detail = ''): never {
  throw new Error(`${what} for input ${toHex(input.subarray(0, 256))}${input.length > 256 ? '…' : ''} (${input.length} bytes)${detail ? `: ${detail}` : ''}`);
}

/** fn's result, or undefined when it threw a StunError; anything else thrown is a failure. */
function attempt<T>(what: string, input: Uint8Array, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof StunError && typeof e.message === 'string' && e.message.length > 0) return undefined;
    return fail(`${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, input);
  }
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && equalBytes(a, b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return Object.is(a, b);
}

interface Tally {
  inputs: number;
  stunParsed: number;
  attributesDecoded: number;
  channelDataParsed: number;
  framesFramed: number;
}

const newTally = (): Tally => ({ inputs: 0, stunParsed: 0, attributesDecoded: 0, channelDataParsed: 0, framesFramed: 0 });

/** A decoded value survives encode → decode unchanged (USERNAME may be too long to send: RFC 8489 §14.3). */
function checkAttribute(codec: AttributeCodec<unknown>, value: Uint8Array, tid: Uint8Array, tally: Tally): void {
  const decoded = attempt(`${codec.name} decode`, value, () => codec.decode(value, tid));
  if (decoded === undefined) return;
  tally.attributesDecoded++;
  let encoded: Uint8Array;
  try {
    encoded = codec.encode(decoded, tid);
  } catch (e) {
    if (codec === codecs.username && value.length > 508 && e instanceof StunError && e.reason === 'invalid_argument') return;
    return fail(`${codec.name} encode of its own decoding threw ${String(e)}`, value);
  }
  const again = attempt(`${codec.name} re-decode`, encoded, () => codec.decode(encoded, tid));
  if (!same(decoded, again))
    fail(`${codec.name} decode → encode → decode is not a fixed point`, value, `${JSON.stringify(decoded)} vs ${JSON.stringify(again)}`);
}

function withPaddingZeroed(msg: StunMessage): Uint8Array {
  const out = msg.raw.slice();
  for (const a of msg.attributes) out.fill(0, a.offset + 4 + a.value.length, a.offset + 4 + padded(a.value.length));
  return out;
}

function checkStun(input: Uint8Array, tally: Tally): void {
  const msg = attempt('parseStunMessage', input, () => parseStunMessage(input));
  if (!msg) return;
  tally.stunParsed++;
  const rebuilt = attempt('buildStunMessage of a parsed message', input, () => buildStunMessage(msg));
  if (!rebuilt) fail('a parsed message could not be rebuilt', input);
  if (!equalBytes(rebuilt, withPaddingZeroed(msg))) fail('rebuilt message differs from the input', input, toHex(rebuilt.subarray(0, 256)));
  for (const verify of [() => verifyMessageIntegrity(msg, KEY), () => verifyMessageIntegritySha256(msg, KEY), () => verifyFingerprint(msg)]) {
    if (typeof verify() !== 'boolean') fail('a verifier returned a non-boolean', input);
  }
  const significant = significantAttributes(msg);
  if (significant.some((a) => !msg.attributes.includes(a))) fail('significantAttributes invented an attribute', input);
  unknownComprehensionRequired(msg, new Set());
  for (const a of significant) {
    const codec = CODEC_BY_TYPE.get(a.type);
    if (codec) checkAttribute(codec, a.value, msg.transactionId, tally);
  }
}

function checkChannelData(input: Uint8Array, tally: Tally): void {
  for (const transport of ['udp', 'tcp'] as Transport[]) {
    const cd = attempt(`parseChannelData(${transport})`, input, () => parseChannelData(input, transport));
    if (!cd) continue;
    tally.channelDataParsed++;
    const rebuilt = buildChannelData(cd.channel, cd.data, transport);
    const expected = input.slice(0, rebuilt.length);
    if (transport === 'tcp') expected.fill(0, 4 + cd.data.length);
    if (!equalBytes(rebuilt, expected)) fail(`rebuilt ChannelData (${transport}) differs from the input`, input);
  }
}

function checkFramer(input: Uint8Array, rnd: Rng, tally: Tally): void {
  const max = rnd() < 0.2 ? 20 + int(rnd, 200) : undefined;
  const framer = new TurnStreamFramer({ maxBufferedBytes: max });
  let consumed = 0;
  let pushed = 0;
  while (pushed < input.length && !framer.failed) {
    const n = Math.min(input.length - pushed, 1 + int(rnd, rnd() < 0.5 ? 8 : 200));
    const frames = attempt('TurnStreamFramer.push', input, () => framer.push(input.subarray(pushed, pushed + n)));
    pushed += n;
    if (frames === undefined) {
      if (!framer.failed) fail('the framer threw without failing', input);
      if (attempt('TurnStreamFramer.push after failure', input, () => framer.push(new Uint8Array(1))) !== undefined)
        fail('a failed framer accepted more', input);
      break;
    }
    for (const f of frames) {
      const b = f.bytes;
      const stun = (b[0]! & 0xc0) === 0;
      const size = stun ? 20 + ((b[2]! << 8) | b[3]!) : 4 + padded((b[2]! << 8) | b[3]!);
      if (f.kind !== (stun ? 'stun' : 'channel_data') || b.length !== size) fail('a frame does not match its header', input);
      if (!equalBytes(b, input.subarray(consumed, consumed + b.length))) fail('a frame is not the next slice of the stream', input);
      consumed += b.length;
      tally.framesFramed++;
    }
    if (framer.bufferedBytes > (max ?? 65540)) fail('the framer buffered more than its limit', input);
    if (consumed + framer.bufferedBytes !== pushed) fail('the framer lost or invented bytes', input);
  }
}

function checkAll(input: Uint8Array, rnd: Rng, tally: Tally): void {
  tally.inputs++;
  checkStun(input, tally);
  checkChannelData(input, tally);
  checkFramer(input, rnd, tally);
}

// ---------------------------------------------------------------------------------------------
// valid messages to start from
// ---------------------------------------------------------------------------------------------

function randomAddress(rnd: Rng): { address: string; port: number } {
  const port = int(rnd, 65536);
  if (rnd() < 0.5) return { address: `${int(rnd, 256)}.${int(rnd, 256)}.${int(rnd, 256)}.${int(rnd, 256)}`, port };
  const groups = Array.from({ length: 8 }, () => (rnd() < 0.4 ? 0 : int(rnd, 0x10000)).toString(16));
  return { address: groups.join(':'), port };
}

function randomText(rnd: Rng, max: number): string {
  const alphabet = ['a', 'Z', '0', ':', '/', ' ', 'é', '\u30de', '\u{1f512}'];
  return Array.from({ length: int(rnd, max) }, () => pick(rnd, alphabet)).join('');
}

/** A random valid attribute, encoded with the typed codecs. */
function randomAttribute(rnd: Rng, tid: Uint8Array): StunAttributeInput {
  switch (int(rnd, 16)) {
    case 0:
      return encodeAttribute(
        pick(rnd, [codecs.mappedAddress, codecs.xorMappedAddress, codecs.xorPeerAddress, codecs.xorRelayedAddress]),
        randomAddress(rnd),
        tid,
      );
    case 1:
      return encodeAttribute(codecs.username, `${1_700_000_000 + int(rnd, 1e6)}:${randomText(rnd, 30)}`);
    case 2:
      return encodeAttribute(pick(rnd, [codecs.realm, codecs.nonce, codecs.software]), randomText(rnd, 60));
    case 3:
      return encodeAttribute(codecs.errorCode, { code: 300 + int(rnd, 400), reason: randomText(rnd, 30) });
    case 4:
      return encodeAttribute(
        codecs.unknownAttributes,
        Array.from({ length: int(rnd, 5) }, () => int(rnd, 0x10000)),
      );
    case 5:
      return encodeAttribute(codecs.lifetime, int(rnd, 2 ** 32));
    case 6:
      return encodeAttribute(pick(rnd, [codecs.requestedTransport, codecs.requestedAddressFamily]), int(rnd, 256));
    case 7:
      return encodeAttribute(codecs.data, randomBytes(rnd, int(rnd, 100)));
    case 8:
      return encodeAttribute(codecs.channelNumber, 0x4000 + int(rnd, 0x1000));
    case 9:
      return encodeAttribute(codecs.dontFragment, true);
    case 10:
      return encodeAttribute(codecs.evenPort, { reserveNextPort: rnd() < 0.5 });
    case 11:
      return encodeAttribute(codecs.reservationToken, randomBytes(rnd, 8));
    case 12:
      return encodeAttribute(codecs.passwordAlgorithms, [
        { algorithm: PASSWORD_ALGORITHM.MD5, parameters: new Uint8Array(0) },
        { algorithm: int(rnd, 0x10000), parameters: randomBytes(rnd, int(rnd, 6)) },
      ]);
    case 13:
      return encodeAttribute(codecs.passwordAlgorithm, { algorithm: PASSWORD_ALGORITHM.SHA256, parameters: new Uint8Array(0) });
    case 14:
      return encodeAttribute(codecs.userhash, randomBytes(rnd, 32));
    default:
      return { type: int(rnd, 0x10000) === ATTR.FINGERPRINT ? 0x7777 : int(rnd, 0x10000) & ~0, value: randomBytes(rnd, int(rnd, 12)) };
  }
}

function randomValidMessage(rnd: Rng): Uint8Array {
  const tid = randomBytes(rnd, 12);
  const attributes = Array.from({ length: int(rnd, 8) }, () => randomAttribute(rnd, tid)).filter((a) => a.type !== ATTR.FINGERPRINT);
  return buildStunMessage(
    { method: rnd() < 0.8 ? pick(rnd, Object.values(METHOD)) : int(rnd, 0x1000), messageClass: pick(rnd, CLASSES), transactionId: tid, attributes },
    {
      integrityKey: rnd() < 0.5 ? KEY : undefined,
      integritySha256Key: rnd() < 0.3 ? KEY : undefined,
      integritySha256Length: 16 + 4 * int(rnd, 5),
      fingerprint: rnd() < 0.5,
      paddingByte: rnd() < 0.2 ? int(rnd, 256) : 0,
    },
  );
}

const TYPES = Object.values(ATTR);

/** A STUN header and random attributes: random types (often known ones), lengths and bytes, sometimes one bad length. */
function randomTlvMessage(rnd: Rng): Uint8Array {
  const parts: Uint8Array[] = [randomBytes(rnd, 20)];
  for (let n = int(rnd, 6); n > 0; n--) {
    const type = rnd() < 0.6 ? pick(rnd, TYPES) : int(rnd, 0x10000);
    const length = rnd() < 0.5 ? pick(rnd, [0, 1, 4, 8, 20, 32]) : int(rnd, 48);
    const tlv = randomBytes(rnd, 4 + padded(length));
    setU16(tlv, 0, type);
    setU16(tlv, 2, rnd() < 0.05 ? int(rnd, 0x10000) : length);
    if (length >= 2 && rnd() < 0.5) tlv[5] = 1 + int(rnd, 2); // an address family
    parts.push(tlv);
  }
  const b = concatBytes(...parts);
  b[0]! &= 0x3f;
  setU16(b, 4, MAGIC_COOKIE >>> 16);
  setU16(b, 6, MAGIC_COOKIE & 0xffff);
  return fixLength(b);
}

function randomValidChannelData(rnd: Rng): Uint8Array {
  return buildChannelData(0x4000 + int(rnd, 0x1000), randomBytes(rnd, int(rnd, 60)), rnd() < 0.5 ? 'tcp' : 'udp');
}

/** Offsets where attributes start, and the end, for a valid message (boundaries for splicing). */
function boundaries(bytes: Uint8Array): number[] {
  const msg = attempt('parse of a seed', bytes, () => parseStunMessage(bytes));
  return msg ? [...msg.attributes.map((a) => a.offset), bytes.length] : [20, bytes.length];
}

function setU16(b: Uint8Array, at: number, v: number): void {
  if (at + 1 < b.length) {
    b[at] = (v >>> 8) & 0xff;
    b[at + 1] = v & 0xff;
  }
}

function fixLength(b: Uint8Array): Uint8Array {
  setU16(b, 2, b.length - 20);
  return b;
}

/** One to four random damages to a valid message (or stream of them). */
function mutate(rnd: Rng, seed: Uint8Array, other: Uint8Array): Uint8Array {
  let b: Uint8Array = seed.slice();
  const ops = 1 + int(rnd, 4);
  for (let op = 0; op < ops; op++) {
    const cuts = boundaries(b);
    switch (int(rnd, 10)) {
      case 0: // bit flips
        for (let k = 1 + int(rnd, 3); k > 0 && b.length > 0; k--) b[int(rnd, b.length)]! ^= 1 << int(rnd, 8);
        break;
      case 1: // interesting byte values
        if (b.length > 0) b[int(rnd, b.length)] = pick(rnd, [0x00, 0xff, 0x80, 0x7f, 0x40, 0x3f, 0x20]);
        break;
      case 2: // truncation
        b = b.slice(0, int(rnd, b.length + 1));
        break;
      case 3: // extension with junk
        b = concatBytes(b, randomBytes(rnd, int(rnd, 9)));
        break;
      case 4: // header length tampering
        setU16(b, 2, pick(rnd, [0, 4, b.length - 20, b.length - 16, b.length - 24, b.length - 19, 0xfffc, 0xffff, int(rnd, 0x10000)]));
        break;
      case 5: {
        // attribute length tampering
        const at = pick(rnd, cuts.slice(0, -1));
        if (at !== undefined)
          setU16(b, at + 2, pick(rnd, [0, 1, 3, 4, 20, 0xffff, int(rnd, 0x10000), ((b[at + 2]! << 8) | b[at + 3]!) + pick(rnd, [-1, 1, 4, -4])]));
        break;
      }
      case 6: {
        // attribute duplication, at another boundary
        const i = int(rnd, cuts.length - 1);
        const from = cuts[i];
        const to = cuts[i + 1];
        if (from === undefined || to === undefined) break;
        const at = pick(rnd, cuts);
        b = concatBytes(b.subarray(0, at), b.subarray(from, to), b.subarray(at));
        if (rnd() < 0.8) fixLength(b);
        break;
      }
      case 7: {
        // attribute removal
        const i = int(rnd, cuts.length - 1);
        const from = cuts[i];
        const to = cuts[i + 1];
        if (from === undefined || to === undefined) break;
        b = concatBytes(b.subarray(0, from), b.subarray(to));
        if (rnd() < 0.8) fixLength(b);
        break;
      }
      case 8: {
        // splice: this message's head with another's tail, at attribute boundaries or anywhere
        const head = rnd() < 0.7 ? pick(rnd, cuts) : int(rnd, b.length + 1);
        const otherCuts = boundaries(other);
        const tail = rnd() < 0.7 ? pick(rnd, otherCuts) : int(rnd, other.length + 1);
        b = concatBytes(b.subarray(0, head), other.subarray(tail));
        if (rnd() < 0.7) fixLength(b);
        break;
      }
      default: // make it ChannelData-shaped, or STUN-shaped again
        if (b.length >= 8 && rnd() < 0.5) {
          b[0] = 0x40 | (b[0]! & 0x0f);
        } else if (b.length >= 8) {
          b[0]! &= 0x3f;
          setU16(b, 4, MAGIC_COOKIE >>> 16);
          setU16(b, 6, MAGIC_COOKIE & 0xffff);
        }
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// the runs
// ---------------------------------------------------------------------------------------------

describe('STUN/TURN codec fuzz', () => {
  it(`survives ${RANDOM_INPUTS} random byte strings (seed 0x5eed5701)`, () => {
    const rnd = mulberry32(0x5eed5701);
    const tally = newTally();
    for (let i = 0; i < RANDOM_INPUTS; i++) {
      // Three quarters get a plausible header, or header and attribute framing, so that the
      // walkers and decoders behind the first checks run on random bytes too.
      const shape = int(rnd, 4);
      if (shape === 3) {
        try {
          checkAll(randomTlvMessage(rnd), rnd, tally);
        } catch (e) {
          throw new Error(`random input #${i}: ${String(e)}`);
        }
        continue;
      }
      const length = randomLength(rnd);
      const input = randomBytes(rnd, length);
      if (shape === 1 && length >= 8) {
        input[0]! &= 0x3f;
        setU16(input, 4, MAGIC_COOKIE >>> 16);
        setU16(input, 6, MAGIC_COOKIE & 0xffff);
        if (rnd() < 0.8) fixLength(input);
      } else if (shape === 2 && length >= 4) {
        input[0] = 0x40 | (input[0]! & 0x0f);
        if (rnd() < 0.8) setU16(input, 2, Math.max(0, length - 4 - int(rnd, 4)));
      }
      try {
        checkAll(input, rnd, tally);
      } catch (e) {
        throw new Error(`random input #${i}: ${String(e)}`);
      }
    }
    expect(tally.inputs).toBe(RANDOM_INPUTS);
    // The shaped inputs must reach the deep paths, or the run proves little.
    expect(tally.stunParsed).toBeGreaterThan(10_000);
    expect(tally.attributesDecoded).toBeGreaterThan(1000);
    expect(tally.channelDataParsed).toBeGreaterThan(10_000);
    expect(tally.framesFramed).toBeGreaterThan(1000);
  });

  it(`survives ${MUTATED_INPUTS} mutations of valid messages (seed 0x5eed5702)`, () => {
    const rnd = mulberry32(0x5eed5702);
    const tally = newTally();
    const corpus = [
      ...VECTORS,
      ...Array.from({ length: 200 }, () => randomValidMessage(rnd)),
      ...Array.from({ length: 40 }, () => randomValidChannelData(rnd)),
    ];
    // The seeds themselves are valid and round-trip.
    for (const seed of corpus) checkAll(seed, rnd, newTally());
    for (let i = 0; i < MUTATED_INPUTS; i++) {
      let seed = pick(rnd, corpus);
      // Sometimes a TCP stream of several messages, so the framer sees boundaries.
      if (rnd() < 0.15) seed = concatBytes(seed, ...Array.from({ length: 1 + int(rnd, 3) }, () => pick(rnd, corpus)));
      const input = mutate(rnd, seed, pick(rnd, corpus));
      try {
        checkAll(input, rnd, tally);
      } catch (e) {
        throw new Error(`mutation #${i}: ${String(e)}`);
      }
    }
    expect(tally.inputs).toBe(MUTATED_INPUTS);
    expect(tally.stunParsed).toBeGreaterThan(10_000);
    expect(tally.attributesDecoded).toBeGreaterThan(10_000);
    expect(tally.framesFramed).toBeGreaterThan(10_000);
  });

  it(`decodes ${RANDOM_INPUTS} random attribute values with every codec (seed 0x5eed5703)`, () => {
    const rnd = mulberry32(0x5eed5703);
    const tally = newTally();
    const likely = [0, 1, 2, 4, 8, 12, 20, 32];
    for (let i = 0; i < RANDOM_INPUTS; i++) {
      const codec = pick(rnd, CODECS);
      const length = rnd() < 0.6 ? pick(rnd, likely) : rnd() < 0.99 ? int(rnd, 140) : int(rnd, 1000);
      const value = randomBytes(rnd, length);
      if (length >= 2 && rnd() < 0.5) value[1] = 1 + int(rnd, 2); // address family
      if (length >= 4 && rnd() < 0.3) value[2] = 3 + int(rnd, 4); // ERROR-CODE class
      if (length >= 1 && rnd() < 0.3) value[0] = 0x40 | int(rnd, 16); // channel number
      if (rnd() < 0.3) for (let k = 0; k < length; k++) value[k] = 0x20 + int(rnd, 0x5f); // ASCII text
      try {
        checkAttribute(codec, value, randomBytes(rnd, 12), tally);
      } catch (e) {
        throw new Error(`attribute input #${i} (${codec.name}): ${String(e)}`);
      }
    }
    expect(tally.attributesDecoded).toBeGreaterThan(10_000);
  });

  it('splits random concatenations of valid messages the same however the stream is cut (seed 0x5eed5704)', () => {
    const rnd = mulberry32(0x5eed5704);
    for (let i = 0; i < 2000; i++) {
      const frames = Array.from({ length: 1 + int(rnd, 6) }, () =>
        rnd() < 0.5 ? randomValidMessage(rnd) : buildChannelData(0x4000 + int(rnd, 0x1000), randomBytes(rnd, int(rnd, 70)), 'tcp'),
      );
      const stream = concatBytes(...frames);
      const framer = new TurnStreamFramer();
      const got: Uint8Array[] = [];
      for (let pos = 0; pos < stream.length; ) {
        const n = 1 + int(rnd, 64);
        got.push(...framer.push(stream.subarray(pos, pos + n)).map((f) => f.bytes));
        pos += n;
      }
      if (got.length !== frames.length || !got.every((g, k) => equalBytes(g, frames[k]!)) || framer.bufferedBytes !== 0) {
        throw new Error(`stream #${i} was split differently: ${toHex(stream)}`);
      }
    }
  });
});
