/**
 * werift RTCPeerConnection configured for Postern tunnels.
 *
 * - werift carries Postern's patch set (patches/werift+*.patch, applied at install; see
 *   ./werift-patches.ts). Importing this module checks that it does and throws otherwise, so a
 *   gateway or CLI on an install that skipped the patches refuses to start, saying how to fix it.
 * - ICE servers: exactly the ones passed. werift's defaults would add Google's public STUN
 *   server (both in its default config and, for an empty list, inside its ICE agent); the
 *   `ice-no-implicit-stun` patch removes the latter, and we always pass the list explicitly so
 *   the former never applies. A gateway must not send a packet to a third party.
 * - max-message-size 256 KiB (what Chromium advertises; werift defaults to 64 KiB).
 * - UDP socket buffers raised to 4 MiB (`UdpTransport.socketBufferSize`, added by the
 *   `udp-socket-buffers` patch; werift as shipped has no option).
 */
import { RTCPeerConnection, UdpTransport, type PeerConfig, type RTCIceServer } from 'werift';
import { MAX_SCTP_PACKET } from './path-mtu.ts';
import { assertWeriftPatched, type WeriftBuild } from './werift-patches.ts';

export type { RTCIceServer };
export { RTCPeerConnection };
export { sctpPacketBytes, startSctpPathMtuDiscovery } from './sctp-path-mtu.ts';
export { DEFAULT_SCTP_PACKET } from './path-mtu.ts';

/**
 * 'patched' (always, in production). 'stock' only when POSTERN_ALLOW_STOCK_WERIFT=1 and the
 * process loaded werift as shipped on purpose (test/bench/tunnel's "unpatched" row).
 */
export const WERIFT_BUILD: WeriftBuild = assertWeriftPatched();

/** SO_RCVBUF/SO_SNDBUF for werift's UDP sockets unless a caller says otherwise. */
export const DEFAULT_UDP_BUFFER_BYTES = 4 * 1024 * 1024;
UdpTransport.socketBufferSize = DEFAULT_UDP_BUFFER_BYTES;

/**
 * Stock werift sends STUN to stun.l.google.com when no STUN server is configured (the patch
 * `ice-no-implicit-stun` removes that). On stock werift only, a STUN server on the discard port
 * of loopback is added when the list names none: its queries fail quietly and nothing leaves
 * the host.
 */
const LOOPBACK_STUN: RTCIceServer = { urls: 'stun:127.0.0.1:9' };

/**
 * The largest SCTP packet a Postern peer accepts (one DTLS record), declared to the other side
 * in the sealed signalling so that it may probe the path up to it. Every werift build takes
 * such packets (patched or not: node/webrtc/werift-patches.test.ts); Chromium does not, and is
 * never probed.
 */
export const POSTERN_SCTP_MAX_PACKET = MAX_SCTP_PACKET;

/** Chromium's advertised SCTP max-message-size. */
export const POSTERN_MAX_MESSAGE_SIZE = 256 * 1024;

export interface PeerConnectionOptions {
  /** The only ICE servers used (normally the Router's Relay). An empty list means host candidates only. */
  iceServers: RTCIceServer[];
  /** 'relay' forces TURN-relayed candidates only. Default 'all'. */
  iceTransportPolicy?: 'all' | 'relay';
  /** Local SCTP max-message-size advertised in SDP. Default 256 KiB. */
  maxMessageSize?: number;
  /** SO_RCVBUF/SO_SNDBUF for werift's UDP sockets (kernel-clamped). Default 4 MiB. */
  udpBufferBytes?: number;
  /** Restrict ICE host ports, e.g. for a firewall rule on the gateway. */
  icePortRange?: [number, number];
  /** Gather IPv6 host candidates too. Default true (werift's default). */
  iceUseIpv6?: boolean;
  /** Gather IPv4 host candidates. Default true. */
  iceUseIpv4?: boolean;
  /** Extra addresses to announce as host candidates (e.g. a NAT's public address). */
  iceAdditionalHostAddresses?: string[];
  /** Bind ICE sockets to these local addresses (werift's `iceInterfaceAddresses`). */
  iceInterfaceAddresses?: PeerConfig['iceInterfaceAddresses'];
}

export function createPeerConnection(options: PeerConnectionOptions): RTCPeerConnection {
  if (!Array.isArray(options.iceServers)) throw new TypeError('iceServers must be an array (possibly empty)');
  const maxMessageSize = options.maxMessageSize ?? POSTERN_MAX_MESSAGE_SIZE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize <= 0) throw new RangeError('maxMessageSize must be a positive integer');
  // Process-wide, as werift has one UdpTransport class: the last caller's value applies.
  if (options.udpBufferBytes !== undefined) UdpTransport.socketBufferSize = options.udpBufferBytes;

  // Always explicit (a copy), so werift's default Google STUN entry is replaced, never merged.
  const iceServers = options.iceServers.map((s) => ({ ...s, urls: Array.isArray(s.urls) ? [...s.urls] : s.urls }));
  if (WERIFT_BUILD === 'stock' && !iceServers.some((s) => [s.urls].flat().some((u) => /^stuns?:/.test(u)))) iceServers.push(LOOPBACK_STUN);
  const config: Partial<PeerConfig> = {
    iceServers,
    iceTransportPolicy: options.iceTransportPolicy ?? 'all',
    maxMessageSize,
  };
  if (options.icePortRange) config.icePortRange = options.icePortRange;
  if (options.iceUseIpv6 !== undefined) config.iceUseIpv6 = options.iceUseIpv6;
  if (options.iceUseIpv4 !== undefined) config.iceUseIpv4 = options.iceUseIpv4;
  if (options.iceAdditionalHostAddresses) config.iceAdditionalHostAddresses = [...options.iceAdditionalHostAddresses];
  if (options.iceInterfaceAddresses) config.iceInterfaceAddresses = options.iceInterfaceAddresses;
  const pc = new RTCPeerConnection(config);
  // Belt and braces: if werift ever merged instead of replacing, fail loudly rather than leak.
  const configured = pc.getConfiguration().iceServers;
  if (configured.length !== iceServers.length) {
    void pc.close();
    throw new Error('werift did not take the ICE server list as given');
  }
  return pc;
}

/**
 * For non-trickle signalling: resolves once ICE gathering is complete (then
 * `pc.localDescription` carries every candidate), or after `timeoutMs` with whatever was
 * gathered so far. Call after `setLocalDescription`. Never rejects.
 */
export function waitForIceGatheringComplete(pc: RTCPeerConnection, timeoutMs: number): Promise<'complete' | 'timeout'> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve('complete');
  return new Promise((resolve) => {
    let done = false;
    const finish = (how: 'complete' | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sub.unSubscribe();
      resolve(how);
    };
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') finish('complete');
    });
    const timer = setTimeout(() => finish(pc.iceGatheringState === 'complete' ? 'complete' : 'timeout'), Math.max(0, timeoutMs));
    // The state may have changed between the first check and the subscription.
    if (pc.iceGatheringState === 'complete') finish('complete');
  });
}
