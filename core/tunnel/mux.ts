/**
 * The tunnel multiplexer: many TCP connections over one ordered data channel, in tunnel frames
 * (core/protocol/tunnel-frames.ts). The client (the CLI's local listener) opens connections; the
 * gateway answers each OPEN by dialling the target and attaching the result to a stream.
 *
 * Flow control, so that a slow reader never makes either side buffer without bound:
 *   - Per connection, credit windows as in HTTP/2 and yamux: each side may send a connection
 *     only as many bytes as the receiver granted (initialWindow in OPEN/OPENED, then WINDOW
 *     frames). The receiver grants again only for bytes its consumer actually took: delivered to
 *     onData while the stream was not paused. A paused consumer stops the grants, the sender's
 *     credit runs out, its write() returns false, and its source (a socket) pauses. The other
 *     connections keep their own credit and keep moving.
 *   - For the channel as a whole: the mux stops pulling from connection queues while the
 *     channel's bufferedAmount is above channelHighWater, and resumes on bufferedAmountLow.
 *   So a side holds at most, per connection, streamHighWater (+ one write) queued to send and
 *   initialWindow received but not consumed, plus channelHighWater (+ one message) in the channel.
 *
 * Sending: writes and control messages are only queued; a pump run as a microtask later packs
 * control messages first, then data from the connections round robin, into messages of up to the
 * channel's maxMessageSize, so many small writes share one message.
 *
 * Keepalive: a PING every pingIntervalMs; any message from the peer counts as life; silence for
 * peerTimeoutMs closes everything with 'peer_timeout'. A malformed message closes everything with
 * 'protocol_error', and so does a peer that breaks the rules (sends past its credit, data after
 * EOF, an OPEN to the client, a connection id never opened).
 *
 * A connection ends normally once both sides have sent EOF and every byte was delivered; either
 * side may abort it at any time with CLOSE and a reason. Connection ids are chosen by the client,
 * increasing, never reused.
 */
import {
  type ControlMessage,
  decodeMessage,
  type EncodableFrame,
  encodeMessage,
  FRAME_HEADER_BYTES,
  isValidTunnelTarget,
  MAX_CLOSE_MESSAGE_BYTES,
  MAX_CONNECTION_ID,
  MAX_FRAME_PAYLOAD,
  MAX_WINDOW,
  TunnelFrameError,
  type TunnelCloseReason,
  type TunnelTarget,
} from '../protocol/tunnel-frames.ts';
import type { FrameChannel } from './channel.ts';
import { type Listener, MuxStream, type StreamOwner, TunnelError, type TunnelStream } from './stream.ts';

export type { TunnelCloseReason, TunnelTarget } from '../protocol/tunnel-frames.ts';
export { TunnelError, type TunnelStream } from './stream.ts';

/** What the gateway's dial function gives back for a connection it made. */
export interface TunnelEndpoint {
  /** Joins the dialled connection to the stream; called once, possibly with a closed stream. */
  attach(stream: TunnelStream): void;
}

/** The gateway dials a target (or its default when undefined), or throws TunnelError to refuse. */
export type TunnelDial = (target: TunnelTarget | undefined) => Promise<TunnelEndpoint>;

export interface TunnelConnectionInfo {
  readonly id: number;
  readonly target: TunnelTarget | undefined;
  readonly state: 'opening' | 'open';
  readonly openedAt: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface TunnelMuxOptions {
  readonly role: 'client' | 'gateway';
  /** Required for the gateway role. */
  readonly dial?: TunnelDial;
  /** Receive window per connection (default 256 KiB). */
  readonly initialWindow?: number;
  /** write() returns false once this much is queued on a connection (default 256 KiB). */
  readonly streamHighWater?: number;
  /** Stop pulling from connections while the channel holds more than this (default 1 MiB). */
  readonly channelHighWater?: number;
  /** …and resume when it falls to this (default 256 KiB). */
  readonly channelLowWater?: number;
  /** Default 5 s. */
  readonly pingIntervalMs?: number;
  /** Default 20 s. */
  readonly peerTimeoutMs?: number;
  /** How long the client waits for OPENED (default 30 s). */
  readonly openTimeoutMs?: number;
  /** The gateway refuses further OPENs with 'busy' beyond this many (default 1024). */
  readonly maxConnections?: number;
}

/** Grants credit back once this fraction of the window was consumed, to keep WINDOW frames few. */
const GRANT_DIVISOR = 4;

export class TunnelMux implements StreamOwner {
  readonly role: 'client' | 'gateway';
  readonly initialWindow: number;
  readonly streamHighWater: number;
  private readonly channelHighWater: number;
  private readonly dial: TunnelDial | undefined;
  private readonly pingIntervalMs: number;
  private readonly peerTimeoutMs: number;
  private readonly openTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly conns = new Map<number, MuxStream>();
  private lastId = 0;
  private rr = 0;
  private control: ControlMessage[] = [];
  private grants = new Set<MuxStream>();
  private pendingPong: number | undefined;
  private pendingPing: number | undefined;
  private pingNonce = 0;
  private pumpScheduled = false;
  private lastHeard = Date.now();
  private lastTick = Date.now();
  private readonly keepalive: ReturnType<typeof setInterval>;
  private readonly closedCbs: Listener<[TunnelCloseReason, string]>[] = [];
  private dead: { reason: TunnelCloseReason; message: string } | undefined;

  constructor(
    private readonly channel: FrameChannel,
    options: TunnelMuxOptions,
  ) {
    this.role = options.role;
    this.dial = options.dial;
    if (this.role === 'gateway' && !this.dial) throw new TunnelError('internal', 'a gateway tunnel needs a dial function');
    this.initialWindow = options.initialWindow ?? 256 * 1024;
    if (!Number.isInteger(this.initialWindow) || this.initialWindow < 1 || this.initialWindow > MAX_WINDOW)
      throw new TunnelError('internal', 'initialWindow is out of range');
    this.streamHighWater = options.streamHighWater ?? 256 * 1024;
    this.channelHighWater = options.channelHighWater ?? 1024 * 1024;
    this.pingIntervalMs = options.pingIntervalMs ?? 5_000;
    this.peerTimeoutMs = options.peerTimeoutMs ?? 20_000;
    this.openTimeoutMs = options.openTimeoutMs ?? 30_000;
    this.maxConnections = options.maxConnections ?? 1024;
    // Room for a control message and some data in every message; any real data channel has it.
    if (!(channel.maxMessageSize >= 1024)) throw new TunnelError('internal', `the channel's maxMessageSize (${channel.maxMessageSize}) is below 1024 bytes`);
    channel.onMessage((m) => this.receive(m));
    channel.onBufferedAmountLow(options.channelLowWater ?? 256 * 1024, () => this.schedulePump());
    channel.onClose(() => this.close('channel_closed', 'the data channel closed'));
    this.keepalive = setInterval(() => this.tick(), this.pingIntervalMs);
    (this.keepalive as { unref?: () => void }).unref?.();
  }

  /** Why the tunnel closed, once it has. */
  get closeReason(): TunnelCloseReason | undefined {
    return this.dead?.reason;
  }

  get closed(): boolean {
    return this.dead !== undefined;
  }

  /** Once, when the tunnel closes (after every stream was closed with the same reason). */
  onClosed(cb: (reason: TunnelCloseReason, message: string) => void): void {
    if (this.dead) {
      const { reason, message } = this.dead;
      queueMicrotask(() => cb(reason, message));
    } else this.closedCbs.push(cb);
  }

  /** The live connections, for the CLI's display. */
  connections(): TunnelConnectionInfo[] {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      target: c.target,
      state: c.state === 'open' ? 'open' : 'opening',
      openedAt: c.openedAt,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
    }));
  }

  /** What this side holds in memory for its connections, for tests of the bounds. */
  buffered(): { outgoing: number; incoming: number; channel: number } {
    let outgoing = 0;
    let incoming = 0;
    for (const c of this.conns.values()) {
      outgoing += c.outBytes;
      for (const b of c.in) incoming += b.length;
    }
    return { outgoing, incoming, channel: this.channel.bufferedAmount };
  }

  /** Client: a new connection to `target` (or the gateway's default). Rejects with TunnelError. */
  open(target?: TunnelTarget): Promise<TunnelStream> {
    if (this.role !== 'client') return Promise.reject(new TunnelError('internal', 'only the client opens connections'));
    if (this.dead) return Promise.reject(new TunnelError(this.dead.reason, `the tunnel is closed: ${this.dead.message}`));
    if (target !== undefined && !isValidTunnelTarget(target))
      return Promise.reject(new TunnelError('not_allowed', 'the target is not a valid host name or IP address and port'));
    if (this.lastId >= MAX_CONNECTION_ID) return Promise.reject(new TunnelError('busy', 'this tunnel has used up its connection ids'));
    const id = ++this.lastId;
    const conn = new MuxStream(this, id, target, this.initialWindow);
    this.conns.set(id, conn);
    return new Promise<TunnelStream>((resolve, reject) => {
      const timer = setTimeout(() => this.abort(conn, 'timeout', `the gateway did not answer within ${this.openTimeoutMs} ms`, true), this.openTimeoutMs);
      conn.opened = { resolve, reject, timer };
      this.sendControl({ type: 'open', id, window: this.initialWindow, target });
    });
  }

  /** Closes every connection and the channel. */
  close(reason: TunnelCloseReason = 'shutdown', message = ''): void {
    if (this.dead) return;
    this.dead = { reason, message };
    clearInterval(this.keepalive);
    for (const conn of [...this.conns.values()]) this.abort(conn, reason, message, false);
    this.control = [];
    this.grants.clear();
    try {
      this.channel.close();
    } catch {
      // Already closed underneath us; nothing to do.
    }
    for (const cb of this.closedCbs.splice(0)) {
      try {
        cb(reason, message);
      } catch {
        // A listener's failure must not stop the others from hearing.
      }
    }
  }

  // -- internals shared with MuxStream ------------------------------------------------------

  /** Runs a user callback; if it throws, that connection is closed rather than the tunnel. */
  safely(conn: MuxStream, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.abort(conn, 'internal', error instanceof Error ? error.message : 'a stream listener failed', true);
    }
  }

  schedulePump(): void {
    if (this.pumpScheduled || this.dead) return;
    this.pumpScheduled = true;
    queueMicrotask(() => this.pump());
  }

  abort(conn: MuxStream, reason: TunnelCloseReason, message: string, tellPeer: boolean): void {
    if (conn.state === 'closed') return;
    const wasOpening = conn.state === 'opening';
    conn.state = 'closed';
    conn.closeReason = reason;
    conn.closeMessage = message;
    conn.out = [];
    conn.outBytes = conn.outHead = conn.outOffset = 0;
    conn.in = [];
    this.conns.delete(conn.id);
    this.grants.delete(conn);
    if (tellPeer && !this.dead) this.sendControl({ type: 'close', id: conn.id, reason, message: message.slice(0, MAX_CLOSE_MESSAGE_BYTES) });
    if (conn.opened) {
      clearTimeout(conn.opened.timer);
      const { reject } = conn.opened;
      conn.opened = undefined;
      if (wasOpening) reject(new TunnelError(reason, message || `the connection closed: ${reason}`));
    }
    for (const cb of conn.closeCbs.splice(0)) {
      try {
        cb(reason, message);
      } catch {
        // The connection is already closed; a failing listener changes nothing.
      }
    }
  }

  /** Delivers what the peer sent, as far as the consumer lets us, and grants credit for it. */
  flushInbound(conn: MuxStream): void {
    if (conn.delivering) return;
    conn.delivering = true;
    try {
      while (conn.state !== 'closed' && !conn.paused && conn.dataCbs.length > 0 && conn.in.length > 0) {
        const bytes = conn.in.shift()!;
        for (const cb of conn.dataCbs) this.safely(conn, () => cb(bytes));
        // Bytes that made the consumer pause are not consumed yet (they sit in its buffer).
        if (conn.paused) conn.held += bytes.length;
        else this.consumed(conn, bytes.length);
      }
    } finally {
      conn.delivering = false;
    }
    if (conn.state !== 'closed' && conn.remoteEnded && !conn.endDelivered && conn.in.length === 0 && conn.dataCbs.length > 0 && !conn.paused) {
      conn.endDelivered = true;
      for (const cb of conn.endCbs) this.safely(conn, cb);
      this.maybeFinish(conn);
    }
  }

  resumed(conn: MuxStream): void {
    const held = conn.held;
    conn.held = 0;
    if (held > 0 && conn.state !== 'closed') this.consumed(conn, held);
    this.flushInbound(conn);
  }

  // -- receiving -----------------------------------------------------------------------------

  private receive(message: Uint8Array): void {
    if (this.dead) return;
    this.lastHeard = Date.now();
    let frames: ReturnType<typeof decodeMessage>;
    try {
      frames = decodeMessage(message);
    } catch (error) {
      const why = error instanceof TunnelFrameError ? error.message : 'undecodable message';
      this.close('protocol_error', `malformed tunnel message from the peer: ${why}`);
      return;
    }
    try {
      for (const frame of frames) {
        if (this.dead) return;
        const violation = frame.type === 'data' ? this.onDataFrame(frame.id, frame.payload) : this.onControl(frame);
        if (violation) {
          this.close('protocol_error', violation);
          return;
        }
      }
    } catch (error) {
      // Only a bug of ours gets here; the tunnel cannot be trusted after it.
      this.close('internal', error instanceof Error ? error.message : 'internal error');
    }
  }

  /** The connection for a frame, undefined if it already closed; a violation if never opened. */
  private lookup(id: number): MuxStream | undefined | string {
    const conn = this.conns.get(id);
    if (conn) return conn;
    if (id > this.lastId) return `the peer used connection ${id}, which was never opened`;
    return undefined; // closed here while the peer was still sending: drop it.
  }

  private onDataFrame(id: number, payload: Uint8Array): string | undefined {
    const conn = this.lookup(id);
    if (typeof conn !== 'object') return conn;
    if (conn.remoteEnded) return `the peer sent data on connection ${id} after EOF`;
    if (conn.state === 'opening' && this.role === 'client') return `the peer sent data on connection ${id} before OPENED`;
    if (payload.length > conn.recvWindow) return `the peer sent ${payload.length} bytes on connection ${id} with ${conn.recvWindow} of credit`;
    conn.recvWindow -= payload.length;
    conn.bytesIn += payload.length;
    conn.in.push(payload);
    this.flushInbound(conn);
    return undefined;
  }

  private onControl(m: ControlMessage): string | undefined {
    switch (m.type) {
      case 'ping':
        this.pendingPong = m.nonce; // only the latest needs an answer: a flood cannot queue
        this.schedulePump();
        return undefined;
      case 'pong':
        return undefined; // any message is proof of life; see tick()
      case 'open':
        return this.onOpen(m.id, m.window, m.target);
      case 'opened': {
        const conn = this.lookup(m.id);
        if (typeof conn !== 'object') return conn;
        if (this.role !== 'client' || conn.state !== 'opening') return `unexpected OPENED for connection ${m.id}`;
        conn.state = 'open';
        conn.sendCredit = m.window;
        const opened = conn.opened!;
        conn.opened = undefined;
        clearTimeout(opened.timer);
        opened.resolve(conn);
        return undefined;
      }
      case 'close': {
        const conn = this.lookup(m.id);
        if (typeof conn !== 'object') return conn;
        this.abort(conn, m.reason, m.message, false);
        return undefined;
      }
      case 'eof': {
        const conn = this.lookup(m.id);
        if (typeof conn !== 'object') return conn;
        if (conn.remoteEnded) return `a second EOF on connection ${m.id}`;
        if (conn.state === 'opening' && this.role === 'client') return `EOF on connection ${m.id} before OPENED`;
        conn.remoteEnded = true;
        this.flushInbound(conn);
        return undefined;
      }
      case 'window': {
        const conn = this.lookup(m.id);
        if (typeof conn !== 'object') return conn;
        if (conn.sendCredit + m.credit > MAX_WINDOW) return `the peer granted more than ${MAX_WINDOW} bytes of credit on connection ${m.id}`;
        conn.sendCredit += m.credit;
        if (conn.outBytes > 0 || (conn.endRequested && !conn.eofSent)) this.schedulePump();
        return undefined;
      }
    }
  }

  private onOpen(id: number, window: number, target: TunnelTarget | undefined): string | undefined {
    if (this.role !== 'gateway') return 'the gateway may not open connections';
    if (id <= this.lastId) return `OPEN reuses connection id ${id}`;
    this.lastId = id;
    const conn = new MuxStream(this, id, target, this.initialWindow);
    conn.sendCredit = window;
    if (this.conns.size >= this.maxConnections) {
      this.sendControl({ type: 'close', id, reason: 'busy', message: `the gateway allows ${this.maxConnections} connections per tunnel` });
      return undefined;
    }
    this.conns.set(id, conn);
    void this.dialFor(conn);
    return undefined;
  }

  private async dialFor(conn: MuxStream): Promise<void> {
    let endpoint: TunnelEndpoint;
    try {
      endpoint = await this.dial!(conn.target);
    } catch (error) {
      const refusal = error instanceof TunnelError ? error : new TunnelError('unreachable', 'the gateway could not reach the target');
      this.abort(conn, refusal.reason, refusal.message, true);
      return;
    }
    if (conn.state === 'opening') {
      conn.state = 'open';
      this.sendControl({ type: 'opened', id: conn.id, window: this.initialWindow });
    }
    try {
      endpoint.attach(conn);
    } catch (error) {
      this.abort(conn, 'internal', error instanceof Error ? error.message : 'attach failed', true);
    }
  }

  // -- sending -------------------------------------------------------------------------------

  private sendControl(m: ControlMessage): void {
    this.control.push(m);
    this.schedulePump();
  }

  private consumed(conn: MuxStream, bytes: number): void {
    conn.owed += bytes;
    // Grant in batches of a quarter window (or at once when the consumer caught up after a
    // pause and the peer may be out of credit), not per message.
    if (conn.owed >= this.initialWindow / GRANT_DIVISOR || conn.recvWindow === 0) {
      this.grants.add(conn);
      this.schedulePump();
    }
  }

  private maybeFinish(conn: MuxStream): void {
    if (conn.state !== 'closed' && conn.eofSent && conn.endDelivered) this.abort(conn, 'normal', '', false);
  }

  private pump(): void {
    this.pumpScheduled = false;
    const drained = new Set<MuxStream>();
    try {
      while (!this.dead && this.channel.bufferedAmount < this.channelHighWater) {
        const frames = this.collect(this.channel.maxMessageSize, drained);
        if (frames.length === 0) break;
        this.channel.send(encodeMessage(frames));
      }
    } catch (error) {
      this.close('channel_closed', error instanceof Error ? error.message : 'sending failed');
      return;
    }
    for (const conn of drained) {
      if (conn.state === 'closed') continue;
      conn.wantDrain = false;
      for (const cb of conn.drainCbs) this.safely(conn, cb);
    }
  }

  /** The frames of one message of at most `limit` bytes: control first, then data round robin. */
  private collect(limit: number, drained: Set<MuxStream>): EncodableFrame[] {
    const frames: EncodableFrame[] = [];
    // Control messages are at most a few hundred bytes; keep room for them.
    let room = limit;
    const controlRoom = (): boolean => room >= FRAME_HEADER_BYTES + 300;
    if (this.pendingPong !== undefined && controlRoom()) {
      frames.push({ type: 'pong', nonce: this.pendingPong });
      this.pendingPong = undefined;
      room -= FRAME_HEADER_BYTES + 5;
    }
    if (this.pendingPing !== undefined && controlRoom()) {
      frames.push({ type: 'ping', nonce: this.pendingPing });
      this.pendingPing = undefined;
      room -= FRAME_HEADER_BYTES + 5;
    }
    while (this.control.length > 0 && controlRoom()) {
      const m = this.control.shift()!;
      frames.push(m);
      room -= FRAME_HEADER_BYTES + 300; // an upper bound is enough here
    }
    for (const conn of this.grants) {
      if (!controlRoom()) break;
      this.grants.delete(conn);
      if (conn.state === 'closed' || conn.owed === 0) continue;
      frames.push({ type: 'window', id: conn.id, credit: conn.owed });
      conn.recvWindow += conn.owed;
      conn.owed = 0;
      room -= FRAME_HEADER_BYTES + 9;
    }
    const ready = [...this.conns.values()].filter(
      (c) => c.state === 'open' && ((c.outBytes > 0 && c.sendCredit > 0) || (c.endRequested && !c.eofSent && c.outBytes === 0)),
    );
    if (ready.length === 0) return frames;
    const start = this.rr++ % ready.length;
    for (let k = 0; k < ready.length && room > FRAME_HEADER_BYTES + 5; k++) {
      const conn = ready[(start + k) % ready.length]!;
      const want = Math.min(conn.sendCredit, conn.outBytes, room - FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD);
      if (want > 0) {
        frames.push({ type: 'data', id: conn.id, payload: this.take(conn, want) });
        conn.sendCredit -= want;
        conn.bytesOut += want;
        room -= FRAME_HEADER_BYTES + want;
        if (conn.wantDrain && conn.outBytes < this.streamHighWater) drained.add(conn);
      }
      if (conn.endRequested && !conn.eofSent && conn.outBytes === 0 && room >= FRAME_HEADER_BYTES + 5) {
        frames.push({ type: 'eof', id: conn.id });
        conn.eofSent = true;
        room -= FRAME_HEADER_BYTES + 5;
        this.maybeFinish(conn);
      }
    }
    return frames;
  }

  /** Removes `n` bytes from the front of a connection's queue, as parts to be copied once. */
  private take(conn: MuxStream, n: number): Uint8Array[] {
    const parts: Uint8Array[] = [];
    let left = n;
    while (left > 0) {
      const chunk = conn.out[conn.outHead]!;
      const available = chunk.length - conn.outOffset;
      if (available <= left) {
        parts.push(conn.outOffset === 0 ? chunk : chunk.subarray(conn.outOffset));
        left -= available;
        conn.outHead++;
        conn.outOffset = 0;
      } else {
        parts.push(chunk.subarray(conn.outOffset, conn.outOffset + left));
        conn.outOffset += left;
        left = 0;
      }
    }
    // outBytes counts what is still queued, so subtract what left; outOffset is within outHead.
    conn.outBytes -= n;
    if (conn.outHead === conn.out.length) {
      conn.out = [];
      conn.outHead = 0;
    } else if (conn.outHead > 256) {
      conn.out = conn.out.slice(conn.outHead);
      conn.outHead = 0;
    }
    return parts;
  }

  private tick(): void {
    if (this.dead) return;
    const now = Date.now();
    // A tick that comes late means this process was busy, and what the peer sent may still be
    // waiting to be read (timers run before I/O): judge the silence next time, not now.
    const late = now - this.lastTick > 2 * this.pingIntervalMs;
    this.lastTick = now;
    const silent = now - this.lastHeard;
    if (silent > this.peerTimeoutMs && !late) {
      this.close('peer_timeout', `no word from the peer for ${silent} ms`);
      return;
    }
    this.pingNonce = (this.pingNonce + 1) >>> 0;
    this.pendingPing = this.pingNonce; // one slot: a blocked channel does not pile up pings
    this.schedulePump();
  }
}
