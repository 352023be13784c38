import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { TunnelCloseReason, TunnelStream } from '../../core/tunnel/mux.ts';
import { bridgeSocket } from './node-socket.ts';

/** A socket that records what the bridge asks of it; `accept` decides what write() returns. */
class FakeSocket extends EventEmitter {
  written: number[] = [];
  accept = true;
  paused = false;
  ended = false;
  destroyed = false;
  reset = false;
  write(chunk: Uint8Array): boolean {
    this.written.push(...chunk);
    return this.accept;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  resetAndDestroy(): void {
    this.reset = true;
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

/** A stream driven by hand: `feed` plays the peer's bytes, `finish` its EOF, `abort` its CLOSE. */
function fakeStream() {
  const cbs = {
    data: [] as ((b: Uint8Array) => void)[],
    drain: [] as (() => void)[],
    end: [] as (() => void)[],
    close: [] as ((r: TunnelCloseReason, m: string) => void)[],
  };
  const s = {
    id: 1,
    target: undefined,
    openedAt: 0,
    bytesIn: 0,
    bytesOut: 0,
    closed: false,
    accept: true,
    written: [] as number[],
    paused: false,
    ended: false,
    closedWith: undefined as string | undefined,
    write(b: Uint8Array) {
      s.written.push(...b);
      return s.accept;
    },
    onDrain: (cb: () => void) => void cbs.drain.push(cb),
    onData: (cb: (b: Uint8Array) => void) => void cbs.data.push(cb),
    onEnd: (cb: () => void) => void cbs.end.push(cb),
    onClose: (cb: (r: TunnelCloseReason, m: string) => void) => void cbs.close.push(cb),
    pause: () => void (s.paused = true),
    resume: () => void (s.paused = false),
    end: () => void (s.ended = true),
    close(reason: TunnelCloseReason = 'normal') {
      s.closedWith = reason;
      s.closed = true;
      cbs.close.forEach((cb) => cb(reason, ''));
    },
    feed: (b: number[]) => cbs.data.forEach((cb) => cb(Uint8Array.from(b))),
    drain: () => cbs.drain.forEach((cb) => cb()),
    finish: () => cbs.end.forEach((cb) => cb()),
  };
  return s satisfies TunnelStream;
}

describe('bridgeSocket', () => {
  it('honours back-pressure both ways', () => {
    const socket = new FakeSocket();
    const stream = fakeStream();
    bridgeSocket(stream, socket);
    stream.accept = false;
    socket.emit('data', Uint8Array.from([1, 2]));
    expect(stream.written).toEqual([1, 2]);
    expect(socket.paused).toBe(true); // the stream is full: stop reading the socket
    stream.drain();
    expect(socket.paused).toBe(false);
    socket.accept = false;
    stream.feed([3]);
    expect(socket.written).toEqual([3]);
    expect(stream.paused).toBe(true); // the socket is full: stop granting the peer credit
    socket.emit('drain');
    expect(stream.paused).toBe(false);
  });

  it('passes half-closes both ways and leaves a finished pair alone', () => {
    const socket = new FakeSocket();
    const stream = fakeStream();
    const closed: string[] = [];
    bridgeSocket(stream, socket, { onClose: (r) => closed.push(r) });
    socket.emit('end');
    expect(stream.ended).toBe(true);
    expect(socket.ended).toBe(false); // allowHalfOpen: the reply may still come
    stream.feed([9]);
    stream.finish();
    expect(socket.ended).toBe(true);
    socket.emit('close', false);
    expect(stream.closedWith).toBeUndefined(); // the mux finishes it after its EOF goes out
    stream.close('normal');
    expect(socket.destroyed).toBe(false);
    expect(closed).toEqual(['normal']);
  });

  it('aborts the stream on a socket error, and resets the socket on a stream failure', () => {
    const socket = new FakeSocket();
    const stream = fakeStream();
    bridgeSocket(stream, socket);
    socket.emit('error', Object.assign(new Error('boom'), { code: 'ECONNRESET' }));
    socket.emit('close', true);
    expect(stream.closedWith).toBe('reset');

    const other = new FakeSocket();
    const s2 = fakeStream();
    bridgeSocket(s2, other);
    s2.close('peer_timeout');
    expect(other.reset).toBe(true);
  });

  it('resets the socket at once when given an already closed stream', () => {
    const socket = new FakeSocket();
    const stream = fakeStream();
    stream.close('refused');
    const late = { ...stream, onClose: (cb: (r: TunnelCloseReason, m: string) => void) => cb('shutdown', '') };
    bridgeSocket(late, socket);
    expect(socket.reset).toBe(true);
    expect(socket.listenerCount('data')).toBe(0);
  });
});
