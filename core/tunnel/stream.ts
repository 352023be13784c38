/**
 * One stream of the tunnel multiplexer (./mux.ts), as yamux keeps its stream apart from its
 * session: the TunnelStream that both sides use, and MuxStream, its state inside the mux.
 */
import { PosternError, type ErrorCode } from '../errors.ts';
import type { TunnelCloseReason, TunnelTarget } from '../protocol/tunnel-frames.ts';

/** A connection or tunnel that failed or was refused; `reason` is what callers branch on. */
export class TunnelError extends PosternError {
  readonly reason: TunnelCloseReason;

  constructor(reason: TunnelCloseReason, message: string) {
    const code: ErrorCode = reason === 'not_allowed' ? 'not_allowed' : reason === 'internal' ? 'internal' : 'bad_state';
    super(code, message, { reason });
    this.name = 'TunnelError';
    this.reason = reason;
  }
}

/** One connection through the tunnel, the same on both sides. Runtime-neutral: bytes only. */
export interface TunnelStream {
  readonly id: number;
  readonly target: TunnelTarget | undefined;
  /** Date.now() when the connection was opened. */
  readonly openedAt: number;
  /** Bytes received from the peer / written by us and sent. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly closed: boolean;
  /**
   * Queues bytes for the peer (the stream keeps the array: do not reuse it). Returns false when
   * the caller should stop writing until onDrain. Writes after end() or close are dropped.
   */
  write(bytes: Uint8Array): boolean;
  onDrain(cb: () => void): void;
  /** Bytes from the peer, in order. Nothing is delivered until a listener is set. */
  onData(cb: (bytes: Uint8Array) => void): void;
  /** Holds deliveries and credit grants: the peer runs out of credit and stops sending. */
  pause(): void;
  resume(): void;
  /** Half-close: no more bytes from this side (EOF is sent after what was written). */
  end(): void;
  /** The peer half-closed and every byte it sent was delivered. */
  onEnd(cb: () => void): void;
  /** Aborts the connection, dropping what is queued; the peer sees `reason`. */
  close(reason?: TunnelCloseReason, message?: string): void;
  /** Once, however the connection ended; 'normal' after both sides sent EOF. */
  onClose(cb: (reason: TunnelCloseReason, message: string) => void): void;
}

export type Listener<A extends unknown[]> = (...args: A) => void;

/** What a stream needs from the mux that owns it. */
export interface StreamOwner {
  /** write() returns false once this much is queued on the stream. */
  readonly streamHighWater: number;
  /** Sends what is queued, later (a microtask). */
  schedulePump(): void;
  /** Delivers what was received while no listener was set or the stream was paused. */
  flushInbound(stream: MuxStream): void;
  /** The consumer resumed: deliver what is held and grant its credit. */
  resumed(stream: MuxStream): void;
  /** Runs a listener; one that throws closes the stream with 'internal'. */
  safely(stream: MuxStream, fn: () => void): void;
  /** Ends the stream with `reason`; `tellPeer` sends the peer a CLOSE. */
  abort(stream: MuxStream, reason: TunnelCloseReason, message: string, tellPeer: boolean): void;
}

/**
 * One connection of a TunnelMux: its credit, its queues and its listeners. What it cannot do
 * alone (send, deliver, close) it asks of the mux through StreamOwner.
 */
export class MuxStream implements TunnelStream {
  state: 'opening' | 'open' | 'closed' = 'opening';
  readonly openedAt = Date.now();
  bytesIn = 0;
  bytesOut = 0;
  /** Bytes we may still send (the peer's window). */
  sendCredit = 0;
  /** Bytes the peer may still send us. */
  recvWindow: number;
  /** Consumed bytes not yet granted back. */
  owed = 0;
  /** Bytes delivered to a consumer that paused on them: granted on resume, not before. */
  held = 0;
  out: Uint8Array[] = [];
  outHead = 0;
  /** Bytes queued and not yet sent, and how far into out[outHead] was already sent. */
  outBytes = 0;
  outOffset = 0;
  endRequested = false;
  eofSent = false;
  in: Uint8Array[] = [];
  remoteEnded = false;
  endDelivered = false;
  paused = false;
  delivering = false;
  wantDrain = false;
  readonly dataCbs: Listener<[Uint8Array]>[] = [];
  readonly drainCbs: Listener<[]>[] = [];
  readonly endCbs: Listener<[]>[] = [];
  readonly closeCbs: Listener<[TunnelCloseReason, string]>[] = [];
  closeReason: TunnelCloseReason | undefined;
  closeMessage = '';
  opened: { resolve: (s: TunnelStream) => void; reject: (e: TunnelError) => void; timer: ReturnType<typeof setTimeout> | undefined } | undefined;

  constructor(
    private readonly mux: StreamOwner,
    readonly id: number,
    readonly target: TunnelTarget | undefined,
    window: number,
  ) {
    this.recvWindow = window;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  write(bytes: Uint8Array): boolean {
    if (this.state === 'closed' || this.endRequested) return true;
    if (bytes.length > 0) {
      this.out.push(bytes);
      this.outBytes += bytes.length;
      this.mux.schedulePump();
    }
    if (this.outBytes >= this.mux.streamHighWater) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  onDrain(cb: () => void): void {
    this.drainCbs.push(cb);
  }

  onData(cb: (bytes: Uint8Array) => void): void {
    this.dataCbs.push(cb);
    this.mux.flushInbound(this);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.mux.resumed(this);
  }

  end(): void {
    if (this.state === 'closed' || this.endRequested) return;
    this.endRequested = true;
    this.mux.schedulePump();
  }

  onEnd(cb: () => void): void {
    this.endCbs.push(cb);
    if (this.endDelivered) this.mux.safely(this, cb);
  }

  close(reason: TunnelCloseReason = 'normal', message = ''): void {
    this.mux.abort(this, reason, message, true);
  }

  onClose(cb: (reason: TunnelCloseReason, message: string) => void): void {
    if (this.state === 'closed') this.mux.safely(this, () => cb(this.closeReason ?? 'normal', this.closeMessage));
    else this.closeCbs.push(cb);
  }
}
