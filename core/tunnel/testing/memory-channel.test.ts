import { describe, expect, it } from 'vitest';
import { memoryChannelPair } from './memory-channel.ts';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('memoryChannelPair', () => {
  it('delivers in order, asynchronously, and accounts bufferedAmount with a low event', async () => {
    const [a, b] = memoryChannelPair({ maxMessageSize: 1000 });
    const got: number[] = [];
    let lows = 0;
    b.onMessage((m) => got.push(m[0]!));
    a.onBufferedAmountLow(100, () => lows++);
    for (let i = 0; i < 10; i++) a.send(new Uint8Array(50).fill(i));
    expect(a.bufferedAmount).toBe(500);
    expect(got).toEqual([]); // nothing synchronously
    while (got.length < 10) await tick();
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.bufferedAmount).toBe(0);
    expect(lows).toBe(1);
    expect(() => a.send(new Uint8Array(1001))).toThrow(/over 1000/);
  });

  it('limits the rate when asked, and still delivers everything', async () => {
    const [a, b] = memoryChannelPair({ bytesPerSecond: 2_000_000, maxMessageSize: 65536 });
    let bytes = 0;
    b.onMessage((m) => (bytes += m.length));
    for (let i = 0; i < 8; i++) a.send(new Uint8Array(65536));
    await tick();
    expect(bytes).toBeLessThan(8 * 65536); // not all at once
    while (bytes < 8 * 65536) await tick();
    expect(a.bufferedAmount).toBe(0);
  });

  it('closes both ends, but a stalled pair tells nobody anything', async () => {
    const [a, b] = memoryChannelPair();
    let closes = 0;
    a.onClose(() => closes++);
    b.onClose(() => closes++);
    a.close();
    while (closes < 2) await tick();
    const [c, d] = memoryChannelPair();
    let heard = 0;
    d.onMessage(() => heard++);
    d.onClose(() => heard++);
    c.stall();
    c.send(new Uint8Array(1));
    c.close();
    await tick();
    await tick();
    expect(heard).toBe(0);
    expect(c.bufferedAmount).toBe(0);
  });
});
