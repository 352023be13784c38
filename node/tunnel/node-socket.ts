/**
 * Joins a TunnelStream to a Node TCP socket, both ways, for the CLI's local listener and the
 * gateway's target dialer. The socket is typed by the little of net.Socket used here, so core
 * stays free of `node:` imports; only Node code calls this.
 *
 *   socket → stream: stream.write() false pauses the socket until the stream drains.
 *   stream → socket: socket.write() false pauses the stream (which stops granting the peer
 *                    credit) until the socket drains.
 *   half-close:      socket 'end' → stream.end() (EOF); stream end → socket.end(). The socket
 *                    must allow half-open connections (allowHalfOpen: true), or Node would end
 *                    our side when the other ends and a client's shutdown(SHUT_WR) would cut the
 *                    reply short.
 *   failure:         a socket error or early close aborts the stream with 'reset'; a stream
 *                    closed with a reason resets the socket (RST, so the client sees a failure
 *                    and not a clean EOF); 'normal' ends it gracefully.
 */
import type { TunnelCloseReason, TunnelStream } from '../../core/tunnel/mux.ts';

/** The part of net.Socket the bridge uses. */
export interface BridgeSocket {
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  /** Node ≥ 16.17: closes with a TCP RST, so the local client sees a failure, not an EOF. */
  resetAndDestroy?(): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly destroyed: boolean;
  on(event: 'data', cb: (chunk: Uint8Array) => void): unknown;
  on(event: 'end' | 'drain', cb: () => void): unknown;
  on(event: 'error', cb: (error: Error & { code?: string }) => void): unknown;
  on(event: 'close', cb: (hadError: boolean) => void): unknown;
}

export interface BridgeOptions {
  /** Called once when both are done, with the stream's close reason. */
  readonly onClose?: (reason: TunnelCloseReason, message: string) => void;
}

/** Closes a socket the way a failure should look to its peer: RST where Node can send one. */
export function abortSocket(socket: Pick<BridgeSocket, 'destroy' | 'resetAndDestroy' | 'destroyed'>): void {
  if (socket.destroyed) return;
  try {
    if (socket.resetAndDestroy) socket.resetAndDestroy();
    else socket.destroy();
  } catch {
    socket.destroy(); // not connected yet: nothing to reset
  }
}

export function bridgeSocket(stream: TunnelStream, socket: BridgeSocket, options: BridgeOptions = {}): void {
  let socketEnded = false; // the socket's peer sent FIN; we passed it on as EOF
  let streamEnded = false; // the tunnel's peer sent EOF; we ended the socket
  let socketError: (Error & { code?: string }) | undefined;

  stream.onClose((reason, message) => {
    if (reason === 'normal') {
      if (!streamEnded && !socket.destroyed) socket.end();
    } else if (!socket.destroyed) {
      abortSocket(socket);
    }
    options.onClose?.(reason, message);
  });
  if (stream.closed) return;

  socket.on('data', (chunk) => {
    if (!stream.write(chunk)) socket.pause();
  });
  stream.onDrain(() => socket.resume());
  socket.on('end', () => {
    socketEnded = true;
    stream.end();
  });

  stream.onData((bytes) => {
    if (!socket.write(bytes)) stream.pause();
  });
  socket.on('drain', () => stream.resume());
  stream.onEnd(() => {
    streamEnded = true;
    socket.end();
  });

  socket.on('error', (error) => {
    socketError = error;
  });
  socket.on('close', () => {
    // After FIN both ways the stream finishes by itself once its EOF is out: leave it be.
    if (stream.closed || (socketEnded && streamEnded && !socketError)) return;
    stream.close('reset', socketError ? `socket error: ${socketError.code ?? socketError.message}` : 'the socket closed');
  });
}
