/**
 * The local end of `postern tunnel start`: a TCP listener on the user's machine whose every
 * connection is carried through the tunnel (core/tunnel/mux.ts) to the gateway's target.
 *
 * Without a port it takes the first free one from 49152 up (the dynamic range, so it never
 * squats on a well-known service). It reports each connection's opening and closing (with the
 * reason: 'not_allowed', 'refused', 'peer_timeout'…) and live byte counts for the CLI's display.
 * When the tunnel dies, every local socket is reset (RST: the client sees a failure, not a clean
 * end of data), the listener stops, and onMuxClosed says why.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { abortSocket, bridgeSocket } from '../../node/tunnel/node-socket.ts';
import { TunnelError, type TunnelCloseReason, type TunnelMux, type TunnelStream, type TunnelTarget } from '../../core/tunnel/mux.ts';

export const FIRST_DYNAMIC_PORT = 49152;

export interface TunnelListenerOptions {
  readonly mux: TunnelMux;
  readonly host?: string;
  /** A fixed port; when absent, the first free one from 49152. */
  readonly port?: number;
  /** What to ask the gateway for; when absent, the record's own target. */
  readonly target?: TunnelTarget;
}

export interface LocalConnectionInfo {
  /** The tunnel's connection id, once open. */
  readonly id: number | undefined;
  readonly remote: string;
  readonly openedAt: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface LocalConnectionClosed {
  readonly id: number | undefined;
  readonly remote: string;
  readonly reason: TunnelCloseReason;
  readonly message: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface TunnelListener {
  readonly host: string;
  readonly port: number;
  /** "host:port", what the user connects to. */
  readonly address: string;
  connections(): LocalConnectionInfo[];
  onOpen(cb: (info: LocalConnectionInfo) => void): void;
  onClose(cb: (event: LocalConnectionClosed) => void): void;
  onMuxClosed(cb: (reason: TunnelCloseReason, message: string) => void): void;
  /** Stops listening and destroys every local socket (the tunnel itself is the caller's). */
  close(): Promise<void>;
}

interface Local {
  socket: Socket;
  remote: string;
  openedAt: number;
  stream: TunnelStream | undefined;
}

function listen(server: Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error & { code?: string }): void => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(false);
      else reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

export async function startTunnelListener(options: TunnelListenerOptions): Promise<TunnelListener> {
  const { mux, target } = options;
  const host = options.host ?? '127.0.0.1';
  const locals = new Set<Local>();
  const openCbs: ((info: LocalConnectionInfo) => void)[] = [];
  const closeCbs: ((event: LocalConnectionClosed) => void)[] = [];
  const muxClosedCbs: ((reason: TunnelCloseReason, message: string) => void)[] = [];
  let stopped = false;

  const info = (l: Local): LocalConnectionInfo => ({
    id: l.stream?.id,
    remote: l.remote,
    openedAt: l.openedAt,
    bytesIn: l.stream?.bytesIn ?? 0,
    bytesOut: l.stream?.bytesOut ?? 0,
  });
  const emit = <A extends unknown[]>(cbs: ((...args: A) => void)[], ...args: A): void => {
    for (const cb of cbs) {
      try {
        cb(...args);
      } catch {
        // A display callback failing must not take connections down.
      }
    }
  };
  const finish = (l: Local, reason: TunnelCloseReason, message: string): void => {
    if (!locals.delete(l)) return;
    emit(closeCbs, { ...info(l), reason, message });
  };

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    const l: Local = { socket, remote: `${socket.remoteAddress}:${socket.remotePort}`, openedAt: Date.now(), stream: undefined };
    locals.add(l);
    socket.setNoDelay(true);
    // Until the tunnel connection exists, an early close or error is ours to notice.
    const early = (): void =>
      stopped ? finish(l, 'shutdown', 'the local listener stopped') : finish(l, 'reset', 'the local client went away before the tunnel connection opened');
    socket.once('close', early);
    socket.on('error', () => {});
    mux.open(target).then(
      (stream) => {
        socket.off('close', early);
        l.stream = stream;
        if (socket.destroyed || !locals.has(l)) {
          stream.close('reset', 'the local client went away');
          return;
        }
        bridgeSocket(stream, socket, { onClose: (reason, message) => finish(l, reason, message) });
        socket.resume();
        emit(openCbs, info(l));
      },
      (error: unknown) => {
        socket.off('close', early);
        const reason = error instanceof TunnelError ? error.reason : 'internal';
        const message = error instanceof Error ? error.message : 'the tunnel connection failed';
        abortSocket(socket);
        finish(l, reason, message);
      },
    );
  });

  let port = options.port;
  if (port !== undefined) {
    if (!(await listen(server, host, port))) throw new TunnelError('busy', `${host}:${port} is in use`);
  } else {
    for (port = FIRST_DYNAMIC_PORT; ; port++) {
      if (port > 65535) throw new TunnelError('busy', `no free port on ${host} from ${FIRST_DYNAMIC_PORT}`);
      if (await listen(server, host, port)) break;
    }
  }
  const bound = (server.address() as { port: number }).port;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const closing = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const l of [...locals]) {
      abortSocket(l.socket);
      l.stream?.close('shutdown', 'the local listener stopped');
    }
    await closing;
  };

  mux.onClosed((reason, message) => {
    // Streams were closed with the same reason, which destroyed their sockets; sockets whose
    // tunnel connection was still opening are rejected by open(). Whatever is left goes too.
    for (const l of [...locals]) {
      abortSocket(l.socket);
      finish(l, reason, message);
    }
    void stop();
    emit(muxClosedCbs, reason, message);
  });

  return {
    host,
    port: bound,
    address: host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`,
    connections: () => [...locals].map(info),
    onOpen: (cb) => void openCbs.push(cb),
    onClose: (cb) => void closeCbs.push(cb),
    onMuxClosed: (cb) => void muxClosedCbs.push(cb),
    close: stop,
  };
}
