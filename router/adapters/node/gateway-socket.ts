/**
 * Gateway WebSockets on Node, accepted with `ws` on the HTTP server's `upgrade` event and handed
 * straight to the hub, not routed through Hono (@hono/node-ws).
 *
 * Why not Hono here: a Worker holds one of these per gateway for days, 10,000 of them per
 * process. Through @hono/node-ws each connection kept its upgrade request, Hono Context,
 * Request and URL objects alive for its whole life and wrapped every frame in a MessageEvent:
 * half the memory per gateway (docs/decisions/0010-gateway-sockets-outside-hono.md). The Router core stays runtime-neutral: the hub takes a
 * plain `{send, close}` pair (SocketLike), and runtimes without this adapter can still use
 * Hono's `upgradeWebSocket` (RouterDeps).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { PosternError } from '../../../core/errors.ts';
import { GATEWAY_WS_PATH, MAX_GATEWAY_FRAME_BYTES } from '../../../core/protocol/gateway-wire.ts';
import type { GatewayHub } from '../../gateway/hub.ts';
import type { CidrRange } from '../../../core/net/ip-address.ts';
import { clientAddress } from '../../http/client-address.ts';

export interface GatewaySockets {
  /** Drop every gateway socket at once (after the hub has said goodbye). */
  terminateAll(): void;
}

export function acceptGatewaySockets(server: Server, hub: GatewayHub, options: { trustedProxies: readonly CidrRange[] }): GatewaySockets {
  // A frame over the limit is cut off by ws itself with close code 1009 (message too big),
  // before it is buffered whole; the decoder's own limit is for runtimes without this adapter.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_GATEWAY_FRAME_BYTES, perMessageDeflate: false });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req.url) !== GATEWAY_WS_PATH) {
      refuseUpgrade(socket, `No WebSocket endpoint at this path; gateways connect to ${GATEWAY_WS_PATH}.`);
      return;
    }
    // Read what the connection needs now, so nothing below keeps the request alive.
    const clientIp = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], options.trustedProxies);
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws, clientIp));
  });

  function attach(ws: WebSocket, clientIp: string): void {
    const conn = hub.accept({ send: (text) => ws.send(text), close: (code, reason) => ws.close(code, reason), ping: () => ws.ping() }, clientIp);
    // RouterLink heartbeats are WebSocket pings, answered by ws itself (autoPong) without a
    // 'message' event, a string or JSON; they only need to count as a sign of life.
    ws.on('ping', () => conn.heard());
    ws.on('pong', () => conn.heard());
    // Binary frames are handed on as non-text, which the decoder refuses with a typed error.
    ws.on('message', (data, isBinary) => void conn.receive(isBinary ? data : (data as Buffer).toString('utf8')));
    ws.on('close', () => conn.close(1000, 'socket closed'));
    // ws closes the socket after an error (e.g. 1009 for an oversized frame); 'close' follows.
    ws.on('error', () => conn.close(1011, 'socket error'));
  }

  return {
    terminateAll() {
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

function pathOf(url: string | undefined): string {
  if (!url) return '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A 404 on a socket that asked to upgrade elsewhere, then closed: no WebSocket is made. */
function refuseUpgrade(socket: Duplex, message: string): void {
  const body = JSON.stringify(new PosternError('not_found', message).toJSON());
  socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
