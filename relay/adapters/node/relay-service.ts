/**
 * The whole relay on Node, composed: one runtime-neutral TurnServer behind a UDP listener and,
 * optionally, a TCP and a TLS listener (all on `host`), relayed UDP sockets on the relay
 * address of each family, the once-a-second sweep, and the metrics endpoint. This is what
 * `postern relay start` and the embedded relay of `postern server start` call.
 *
 *   const relay = await startRelay({ host: '203.0.113.7', udpPort: 3478, realm: 'postern', authSecret });
 *   relay.urls();   // ['turn:203.0.113.7:3478?transport=udp']
 *   await relay.close();
 *
 * Relay addresses: the relayed sockets bind to the address a peer must send to, so it must be a
 * real address of this machine. By default it is `host` (in its family). When `host` is a
 * wildcard (0.0.0.0, ::), pass `relayIps` explicitly; with an IPv6 one the relay also serves
 * REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY IPv6 allocations.
 *
 * Errors: PosternError 'bad_request' for options that cannot work (short secret, wildcard host
 * without relayIps, TLS port without cert/key); a listener that cannot bind rejects with the
 * node error (EADDRINUSE, EADDRNOTAVAIL), after closing whatever was already started.
 * The secret is never logged nor included in anything this returns.
 */
import { networkInterfaces } from 'node:os';
import { PosternError } from '../../../core/errors.ts';
import { peerPolicy as makePeerPolicy, type PeerPolicy } from '../../policy/peer-address.ts';
import { renderRelayMetrics, type ListenerMetrics } from '../../server/prometheus.ts';
import { TurnServer, type TurnLimits, type TurnLog, type TurnMetrics } from '../../server/turn-server.ts';
import { startMetricsHttp, type MetricsHttp } from './metrics-http.ts';
import { nodeRelaySockets, relayFamilies, type RelayAddresses } from './relay-sockets.ts';
import { listenStream, type StreamListenOptions, type StreamTurnListener } from './stream-turn.ts';
import { listenUdp, type TurnListener } from './udp-turn.ts';
import { MIN_TURN_SECRET_BYTES } from '../../../core/crypto/index.ts';

export interface RelayOptions {
  /** Address every listener binds to, e.g. 127.0.0.1, a public address, or 0.0.0.0 / :: with relayIps. */
  readonly host: string;
  /** UDP port (3478 is the standard); 0 picks a free one. */
  readonly udpPort: number;
  /** TURN over TCP; none when absent. */
  readonly tcpPort?: number | undefined;
  /** TURN over TLS (turns:); needs `tls`. 5349 is the standard. */
  readonly tlsPort?: number | undefined;
  /** PEM contents (not file names) of the certificate chain and its private key. */
  readonly tls?: { readonly cert: string | Uint8Array; readonly key: string | Uint8Array } | undefined;
  /** Where relayed sockets bind, per family. Default: `host`, in its family. */
  readonly relayIps?: RelayAddresses | undefined;
  /** The host name or address clients are told in urls(). Default `host`. */
  readonly publicHost?: string | undefined;
  /** The metrics endpoint (/metrics, /healthz); none when absent. */
  readonly metricsPort?: number | undefined;
  /** Default 127.0.0.1. */
  readonly metricsHost?: string | undefined;
  readonly realm: string;
  /** The REST shared secret the Router signs credentials with (>= 16 bytes). Never logged. */
  readonly authSecret: string | Uint8Array;
  /** CIDRs the relay may reach although they are not public (e.g. "10.20.0.0/16"). */
  readonly allow?: readonly string[] | undefined;
  /** Instead of `allow`: a policy already built. */
  readonly peerPolicy?: PeerPolicy | undefined;
  readonly limits?: Partial<TurnLimits> | undefined;
  /** Back-pressure and connection limits of the TCP/TLS listeners. */
  readonly stream?: Pick<StreamListenOptions, 'maxQueuedBytes' | 'closeQueuedBytes' | 'maxConnections' | 'idleTimeoutMs'> | undefined;
  readonly recvBufferBytes?: number | undefined;
  readonly log?: TurnLog | undefined;
}

export interface RelayListenerInfo {
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly address: string;
  readonly port: number;
}

export interface RelayMetricsSnapshot {
  readonly turn: TurnMetrics;
  readonly listeners: readonly ListenerMetrics[];
}

export interface Relay {
  /** ICE server URLs, e.g. turn:host:3478?transport=udp, turn:host:3478?transport=tcp, turns:host:5349?transport=tcp. */
  urls(): string[];
  readonly listeners: readonly RelayListenerInfo[];
  /** http://127.0.0.1:PORT when metricsPort was given. */
  readonly metricsUrl: string | undefined;
  metrics(): RelayMetricsSnapshot;
  /** The Prometheus text /metrics serves. */
  metricsText(): string;
  readonly server: TurnServer;
  close(): Promise<void>;
}

const WILDCARD = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);

function isIpv6(host: string): boolean {
  return host.includes(':');
}

/**
 * The addresses of this machine a peer could reach the relay's listeners on: the listening host,
 * or every interface address when it listens on a wildcard, and the relay addresses.
 */
function ownAddresses(host: string, relayIps: RelayAddresses): string[] {
  const hosts = WILDCARD.has(host) ? Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.replace(/%.*$/, ''))) : [host];
  return [...new Set([...hosts, relayIps.ipv4, relayIps.ipv6].filter((a): a is string => a !== undefined))];
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const secretLength = typeof options.authSecret === 'string' ? new TextEncoder().encode(options.authSecret).length : options.authSecret.length;
  if (secretLength < MIN_TURN_SECRET_BYTES) throw new PosternError('bad_request', `the relay's shared secret must be at least ${MIN_TURN_SECRET_BYTES} bytes`);
  if (!options.realm) throw new PosternError('bad_request', 'the relay needs a realm');
  if (options.tlsPort !== undefined && !options.tls) throw new PosternError('bad_request', 'a TLS port needs a certificate and key');
  let relayIps = options.relayIps;
  if (!relayIps) {
    if (WILDCARD.has(options.host))
      throw new PosternError(
        'bad_request',
        `listening on ${options.host} needs an explicit relay address (relayIps): peers must be told a real address of this machine`,
      );
    relayIps = isIpv6(options.host) ? { ipv6: options.host } : { ipv4: options.host };
  }
  const families = relayFamilies(relayIps);
  if (families.length === 0) throw new PosternError('bad_request', 'no relay address given');
  const log = options.log ?? (() => {});
  const policy = options.peerPolicy ?? makePeerPolicy(options.allow ?? []);

  const server = new TurnServer({
    realm: options.realm,
    authSecret: options.authSecret,
    peerPolicy: policy,
    relaySockets: nodeRelaySockets(relayIps, { recvBufferBytes: options.recvBufferBytes, log }),
    relayFamilies: families,
    ownAddresses: ownAddresses(options.host, relayIps),
    limits: options.limits,
    log,
  });
  const udp: TurnListener[] = [];
  const streams: StreamTurnListener[] = [];
  let metricsHttp: MetricsHttp | undefined;
  let closing = false;
  const sweep = setInterval(() => server.sweep(), 1000);
  sweep.unref();

  const listenerMetrics = (): ListenerMetrics[] => [
    ...udp.map((l) => ({ transport: l.transport })),
    ...streams.map((l) => {
      const s = l.stats();
      return { transport: l.transport, connections: s.connections, closedMalformed: s.closedMalformed, closedSlow: s.closedSlow, closedIdle: s.closedIdle };
    }),
  ];
  const metricsText = (): string => renderRelayMetrics(server.metrics, listenerMetrics());

  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    clearInterval(sweep);
    server.close();
    await Promise.all([...udp, ...streams].map((l) => l.close()));
    await metricsHttp?.close();
  };

  try {
    udp.push(await listenUdp(server, { host: options.host, port: options.udpPort, recvBufferBytes: options.recvBufferBytes, log }));
    if (options.tcpPort !== undefined) streams.push(await listenStream(server, { ...options.stream, host: options.host, port: options.tcpPort, log }));
    if (options.tlsPort !== undefined)
      streams.push(await listenStream(server, { ...options.stream, host: options.host, port: options.tlsPort, tls: options.tls, log }));
    if (options.metricsPort !== undefined) {
      metricsHttp = await startMetricsHttp({
        host: options.metricsHost ?? '127.0.0.1',
        port: options.metricsPort,
        render: metricsText,
        healthy: () => !closing,
      });
    }
  } catch (e) {
    await close();
    throw e;
  }

  const listeners: RelayListenerInfo[] = [...udp, ...streams].map((l) => ({ transport: l.transport, address: l.address.address, port: l.address.port }));
  const publicHost = options.publicHost ?? options.host;
  const shownHost = isIpv6(publicHost) ? `[${publicHost}]` : publicHost;
  log('info', 'relay.started', { listeners, relayIps, realm: options.realm, allow: options.allow ?? [], metrics: metricsHttp?.url });

  return {
    urls: () =>
      listeners.map((l) => (l.transport === 'tls' ? `turns:${shownHost}:${l.port}?transport=tcp` : `turn:${shownHost}:${l.port}?transport=${l.transport}`)),
    listeners,
    metricsUrl: metricsHttp?.url,
    metrics: () => ({ turn: server.metrics, listeners: listenerMetrics() }),
    metricsText,
    server,
    close,
  };
}
