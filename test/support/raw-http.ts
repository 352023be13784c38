/**
 * One HTTP/1.1 request written by hand on a TCP socket, so a test decides exactly which bytes of
 * the body are sent, and when: the way to prove a server answered from the headers alone.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  /** Resolves with the answer, whether or not the body was ever sent. */
  response: Promise<RawResponse>;
  /** Body bytes written so far. */
  readonly bodyBytesSent: number;
  send(bytes: Uint8Array | string): void;
  close(): void;
}

/** Writes the request line and headers of a POST to `url` + `path` (nothing of the body yet). */
export function openRawPost(url: string, path: string, headers: Record<string, string>): RawRequest {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  let sent = 0;
  const head = [`POST ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  socket.write(head);
  const response = new Promise<RawResponse>((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const tryParse = (final: boolean) => {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) {
        if (final) reject(new Error(`connection closed before a response head (${buffer.length} bytes)`));
        return;
      }
      const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = buffer.subarray(end + 4);
      const length = parsed['content-length'] === undefined ? null : Number(parsed['content-length']);
      if ((length !== null && body.length >= length) || final) {
        resolve({ status: Number(statusLine!.split(' ')[1]), headers: parsed, body: body.subarray(0, length ?? body.length).toString('utf8') });
        socket.destroy();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      tryParse(false);
    });
    socket.on('close', () => tryParse(true));
    socket.on('error', () => {
      // A reset after the answer is normal; 'close' follows and settles the promise.
    });
  });
  // A request the test closes itself never gets an answer; only a caller that awaits it should hear so.
  response.catch(() => {});
  return {
    response,
    get bodyBytesSent() {
      return sent;
    },
    send(bytes) {
      const chunk = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      sent += chunk.length;
      socket.write(chunk);
    },
    close() {
      socket.destroy();
    },
  };
}
