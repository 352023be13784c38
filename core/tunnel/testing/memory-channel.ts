/**
 * A FrameChannel pair in memory, for tests and benchmarks of the multiplexer without WebRTC.
 *
 * Delivery is asynchronous (a macrotask, so sockets and timers keep running), in order, and
 * optionally limited to a byte rate. bufferedAmount counts what one side sent and the other has
 * not yet received, as a data channel's does, and bufferedAmountLow fires on the way down.
 * stall() simulates a peer that died without a word: nothing is delivered any more, in either
 * direction, and nobody is told; close() is an orderly close both sides see.
 */
import type { FrameChannel } from '../channel.ts';

export interface MemoryChannelOptions {
  /** Largest message either side may send (default 256 KiB, Chromium's). */
  readonly maxMessageSize?: number;
  /** Bytes per second in each direction; unlimited when absent. */
  readonly bytesPerSecond?: number;
}

const later: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate(fn)
    : (fn) => setTimeout(fn, 0);

/** The most one delivery turn hands over, so that one busy channel cannot starve the event loop. */
const TURN_BYTES = 4 * 1024 * 1024;

export class MemoryChannel implements FrameChannel {
  readonly maxMessageSize: number;
  peer!: MemoryChannel;
  private readonly bytesPerSecond: number | undefined;
  private queue: Uint8Array[] = [];
  private head = 0;
  private queued = 0;
  private scheduled = false;
  private budget = 0;
  private budgetAt = 0;
  private messageCb: ((m: Uint8Array) => void) | undefined;
  private lowThreshold = 0;
  private lowCb: (() => void) | undefined;
  private closeCb: (() => void) | undefined;
  private closed = false;
  private stalled = false;
  /** Messages and bytes this side has sent, for tests. */
  messagesSent = 0;
  bytesSent = 0;

  constructor(options: MemoryChannelOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? 256 * 1024;
    this.bytesPerSecond = options.bytesPerSecond;
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  send(message: Uint8Array): void {
    if (this.closed) throw new Error('MemoryChannel: send on a closed channel');
    if (message.length > this.maxMessageSize) throw new Error(`MemoryChannel: message of ${message.length} bytes is over ${this.maxMessageSize}`);
    this.queue.push(message);
    this.queued += message.length;
    this.messagesSent++;
    this.bytesSent += message.length;
    this.schedule(0);
  }

  onMessage(cb: (message: Uint8Array) => void): void {
    this.messageCb = cb;
  }

  onBufferedAmountLow(threshold: number, cb: () => void): void {
    this.lowThreshold = threshold;
    this.lowCb = cb;
  }

  onClose(cb: () => void): void {
    this.closeCb = cb;
  }

  close(): void {
    if (this.closed) return;
    this.shut();
    if (!this.stalled) this.peer.shut(); // a dead peer hears nothing, not even a close
  }

  /** The peer is gone without a word: nothing moves any more and nobody is told. */
  stall(): void {
    this.stalled = true;
    this.peer.stalled = true;
  }

  private shut(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    later(() => this.closeCb?.());
  }

  private schedule(delayMs: number): void {
    if (this.scheduled || this.stalled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.deliver();
    };
    if (delayMs > 0) setTimeout(run, delayMs);
    else later(run);
  }

  private deliver(): void {
    if (this.closed || this.stalled) return;
    const before = this.queued;
    let allowance = TURN_BYTES;
    if (this.bytesPerSecond !== undefined) {
      const now = performance.now();
      if (this.budgetAt === 0) this.budgetAt = now;
      // A burst of at most 50 ms worth, so a rate limit is a rate limit and not a token hoard.
      this.budget = Math.min(this.budget + ((now - this.budgetAt) / 1000) * this.bytesPerSecond, this.bytesPerSecond / 20 + this.maxMessageSize);
      this.budgetAt = now;
      allowance = Math.min(allowance, this.budget);
    }
    let sent = 0;
    while (this.head < this.queue.length) {
      const message = this.queue[this.head]!;
      if (sent > 0 && sent + message.length > allowance) break;
      if (this.bytesPerSecond !== undefined && message.length > this.budget) break;
      this.head++;
      this.queued -= message.length;
      sent += message.length;
      if (this.bytesPerSecond !== undefined) this.budget -= message.length;
      this.peer.messageCb?.(message);
      if (this.closed || this.stalled) return;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (before > this.lowThreshold && this.queued <= this.lowThreshold) this.lowCb?.();
    if (this.queue.length > this.head) {
      const wait = this.bytesPerSecond === undefined ? 0 : Math.max(1, Math.ceil(((this.queue[this.head]!.length - this.budget) / this.bytesPerSecond) * 1000));
      this.schedule(wait);
    }
  }
}

/** Two connected channels: what one sends, the other receives. */
export function memoryChannelPair(options: MemoryChannelOptions = {}): [MemoryChannel, MemoryChannel] {
  const a = new MemoryChannel(options);
  const b = new MemoryChannel(options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
