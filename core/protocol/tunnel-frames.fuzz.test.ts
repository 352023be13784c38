/**
 * Randomised robustness of the tunnel frame codec: whatever a peer puts in a data-channel
 * message, decodeMessage throws TunnelFrameError or returns frames, never anything else, and
 * what it accepts is canonical (encodeMessage of the result gives back the same bytes).
 *
 * 100,000 random messages (raw bytes, and bytes behind plausible frame headers so the control
 * decoder is reached) and 100,000 mutations of valid messages (bit flips, byte overwrites,
 * truncation, extension, length-field tampering, splicing two messages). mulberry32 with fixed
 * seeds: a failure names its seed, iteration and input, and reproduces.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../testing/prng.ts';
import { decodeMessage, encodeMessage, TUNNEL_CLOSE_REASONS, TunnelFrameError, type TunnelFrame } from './tunnel-frames.ts';

const RANDOM_INPUTS = 100_000;
const MUTATED_INPUTS = 100_000;

type Rng = () => number;
const int = (rnd: Rng, n: number): number => Math.floor(rnd() * n);
const toHex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

function bytes(rnd: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rnd, 256);
  return out;
}

const HOSTS = ['db', 'db.internal.example', '10.0.0.5', '::1', 'fe80::1%eth0', 'A-B_c.example'];

function validFrame(rnd: Rng): TunnelFrame {
  const id = 1 + int(rnd, 0xfffffffe);
  switch (int(rnd, 8)) {
    case 0:
      return { type: 'data', id, payload: bytes(rnd, 1 + int(rnd, 64)) };
    case 1:
      return {
        type: 'open',
        id,
        window: 1 + int(rnd, 0x7ffffffe),
        ...(rnd() < 0.8 ? { target: { host: HOSTS[int(rnd, HOSTS.length)]!, port: 1 + int(rnd, 65535) } } : {}),
      };
    case 2:
      return { type: 'opened', id, window: 1 + int(rnd, 0x7ffffffe) };
    case 3:
      return {
        type: 'close',
        id,
        reason: TUNNEL_CLOSE_REASONS[int(rnd, TUNNEL_CLOSE_REASONS.length)]!,
        message: ['', 'refused', 'not ü allowed', 'x'.repeat(200)][int(rnd, 4)]!,
      };
    case 4:
      return { type: 'eof', id };
    case 5:
      return { type: 'window', id, credit: 1 + int(rnd, 0x7ffffffe) };
    case 6:
      return { type: 'ping', nonce: int(rnd, 0x100000000) };
    default:
      return { type: 'pong', nonce: int(rnd, 0x100000000) };
  }
}

const validMessage = (rnd: Rng): Uint8Array => encodeMessage(Array.from({ length: 1 + int(rnd, 4) }, () => validFrame(rnd)));

function randomMessage(rnd: Rng): Uint8Array {
  const r = rnd();
  if (r < 0.4) return bytes(rnd, int(rnd, 64));
  // A plausible header (often control, small length) in front of random bytes.
  const body = bytes(rnd, int(rnd, 40));
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  view.setUint32(0, rnd() < 0.7 ? 0 : int(rnd, 4));
  view.setUint32(4, rnd() < 0.8 ? body.length : int(rnd, 80));
  if (rnd() < 0.7 && body.length > 0) body[0] = 1 + int(rnd, 8);
  const out = new Uint8Array(8 + body.length);
  out.set(head);
  out.set(body, 8);
  return out;
}

function mutate(rnd: Rng, input: Uint8Array, other: Uint8Array): Uint8Array {
  let m = input.slice();
  const rounds = 1 + int(rnd, 3);
  for (let r = 0; r < rounds; r++) {
    switch (int(rnd, 6)) {
      case 0: // bit flip
        if (m.length) m[int(rnd, m.length)]! ^= 1 << int(rnd, 8);
        break;
      case 1: // byte overwrite, with a bias to small values (types, lengths, reasons)
        if (m.length) m[int(rnd, m.length)] = rnd() < 0.5 ? int(rnd, 16) : int(rnd, 256);
        break;
      case 2: // truncate
        m = m.subarray(0, int(rnd, m.length + 1));
        break;
      case 3: {
        // extend
        const out = new Uint8Array(m.length + 1 + int(rnd, 12));
        out.set(m);
        out.set(bytes(rnd, out.length - m.length), m.length);
        m = out;
        break;
      }
      case 4: // tamper with the first frame's length field
        if (m.length >= 8)
          new DataView(m.buffer, m.byteOffset).setUint32(
            4,
            rnd() < 0.5 ? new DataView(m.buffer, m.byteOffset).getUint32(4) + int(rnd, 5) - 2 : int(rnd, 0x100000000),
          );
        break;
      default: {
        // splice with another valid message
        const cut = int(rnd, m.length + 1);
        const from = int(rnd, other.length + 1);
        const out = new Uint8Array(cut + other.length - from);
        out.set(m.subarray(0, cut));
        out.set(other.subarray(from), cut);
        m = out;
      }
    }
  }
  return m;
}

/** Decodes one input; returns whether it was accepted, and throws on anything unexpected. */
function check(input: Uint8Array, label: string): boolean {
  let frames: TunnelFrame[];
  try {
    frames = decodeMessage(input);
  } catch (error) {
    if (error instanceof TunnelFrameError) return false;
    throw new Error(`${label}: ${String(error)} on input ${toHex(input)}`);
  }
  const again = encodeMessage(frames);
  if (again.length !== input.length || again.some((b, i) => b !== input[i])) throw new Error(`${label}: not canonical: ${toHex(input)} → ${toHex(again)}`);
  return true;
}

describe('tunnel frames under fuzzing', () => {
  it(`survives ${RANDOM_INPUTS} random messages`, () => {
    const seed = 0x7e11;
    const rnd = mulberry32(seed);
    let accepted = 0;
    for (let i = 0; i < RANDOM_INPUTS; i++) if (check(randomMessage(rnd), `seed ${seed} random #${i}`)) accepted++;
    expect(accepted).toBeGreaterThan(0); // some random inputs must reach the accepting paths
    expect(accepted).toBeLessThan(RANDOM_INPUTS);
  });

  it(`survives ${MUTATED_INPUTS} mutated valid messages`, () => {
    const seed = 0xf4a3e5;
    const rnd = mulberry32(seed);
    // Mutate copies of a pool of valid messages (encoding fresh ones each time costs more than the rest).
    const pool = Array.from({ length: 2000 }, () => validMessage(rnd));
    const pick = (): Uint8Array => pool[int(rnd, pool.length)]!;
    let accepted = 0;
    const reasons = new Set<string>();
    for (let i = 0; i < MUTATED_INPUTS; i++) {
      const input = mutate(rnd, pick(), pick());
      if (check(input, `seed ${seed} mutation #${i}`)) accepted++;
      if (i % 97 === 0) {
        try {
          decodeMessage(input);
        } catch (e) {
          reasons.add((e as TunnelFrameError).reason);
        }
      }
    }
    expect(accepted).toBeGreaterThan(MUTATED_INPUTS / 100);
    // The mutations reach most of the decoder's checks.
    expect(reasons.size).toBeGreaterThanOrEqual(8);
  });
});
