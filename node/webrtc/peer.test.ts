import { Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { RTCPeerConnection } from 'werift';
import { connectPair } from './testing/loopback.ts';
import type { WeriftPeerInternals } from './testing/werift-internals.ts';
import { createPeerConnection, POSTERN_MAX_MESSAGE_SIZE, waitForIceGatheringComplete, WERIFT_BUILD, type PeerConnectionOptions } from './peer.ts';

const open: RTCPeerConnection[] = [];
function peer(opts: Parameters<typeof createPeerConnection>[0]) {
  const pc = createPeerConnection(opts);
  open.push(pc);
  return pc;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((pc) => pc.close()));
});

describe('createPeerConnection', () => {
  it('uses only the ICE servers given: an empty list sends no STUN to anybody (no Google fallback)', async () => {
    const destinations = new Set<string>();
    const originalSend = Socket.prototype.send;
    // Record every datagram destination while two peers gather, connect and exchange data.
    Socket.prototype.send = function (this: Socket, ...args: unknown[]) {
      // werift calls send(data, port, address); the 5-argument form has (data, offset, length, port, address).
      const [port, host] = typeof args[3] === 'number' ? [args[3], args[4]] : [args[1], args[2]];
      destinations.add(`${host}:${port}`);
      return Reflect.apply(originalSend, this, args);
    };
    try {
      const a = peer({ iceServers: [] });
      const b = peer({ iceServers: [] });
      expect(a.getConfiguration().iceServers).toEqual([]);
      const { offererChannel, answererChannel } = await connectPair(a, b);
      const got = new Promise((r) => answererChannel.onMessage.subscribe(r));
      offererChannel.send(Buffer.from('hello'));
      expect(String(await got)).toBe('hello');
      const conn = a.iceTransports[0]?.connection;
      expect(conn).toBeDefined();
      expect(conn?.stunServer).toBeUndefined();
      // Every destination is a host candidate of the other peer (never stun.l.google.com or its IPs).
      const candidates = [a, b].flatMap((pc) =>
        (pc.localDescription?.sdp ?? '')
          .split('\n')
          .filter((l) => l.startsWith('a=candidate'))
          .map((l) => {
            const f = l.trim().split(' ');
            return `${f[4]}:${f[5]}`;
          }),
      );
      expect(destinations.size).toBeGreaterThan(0);
      for (const d of destinations) expect(candidates).toContain(d);
    } finally {
      Socket.prototype.send = originalSend;
    }
  });

  it('passes the ICE servers through unchanged and keeps the relay policy', () => {
    const servers = [{ urls: ['turn:127.0.0.1:3478?transport=udp'], username: 'u', credential: 'p' }];
    const pc = peer({ iceServers: servers, iceTransportPolicy: 'relay' });
    const config = pc.getConfiguration();
    expect(config.iceServers).toEqual(servers);
    expect(config.iceTransportPolicy).toBe('relay');
  });

  it('advertises a 256 KiB max-message-size and carries a 256 KiB message', async () => {
    const a = peer({ iceServers: [], iceUseIpv6: false });
    const b = peer({ iceServers: [], iceUseIpv6: false });
    const { offererChannel, answererChannel } = await connectPair(a, b);
    expect(a.localDescription?.sdp).toContain(`a=max-message-size:${POSTERN_MAX_MESSAGE_SIZE}`);
    expect(b.localDescription?.sdp).toContain(`a=max-message-size:${POSTERN_MAX_MESSAGE_SIZE}`);
    const payload = Buffer.alloc(POSTERN_MAX_MESSAGE_SIZE, 7);
    const got = new Promise<Buffer>((r) => answererChannel.onMessage.subscribe((m) => r(m as Buffer)));
    offererChannel.send(payload);
    expect((await got).equals(payload)).toBe(true);
  });

  it('raises the UDP socket buffers of the ICE sockets (patched werift)', async () => {
    expect(WERIFT_BUILD).toBe('patched');
    const a = peer({ iceServers: [], iceUseIpv6: false, udpBufferBytes: 1024 * 1024 });
    await a.setLocalDescription(await a.createOffer());
    a.createDataChannel('x');
    await a.setLocalDescription(await a.createOffer());
    expect(await waitForIceGatheringComplete(a, 5000)).toBe('complete');
    const sockets = (a as unknown as WeriftPeerInternals).iceTransports[0]?.connection.protocols.map((p) => p.transport.socket) ?? [];
    expect(sockets.length).toBeGreaterThan(0);
    for (const s of sockets) {
      // Linux reports twice the accepted size; the default is ~208 KiB.
      expect(s.getRecvBufferSize()).toBeGreaterThanOrEqual(1024 * 1024);
      expect(s.getSendBufferSize()).toBeGreaterThanOrEqual(1024 * 1024);
    }
  });

  it('waitForIceGatheringComplete times out without rejecting', async () => {
    const a = peer({ iceServers: [] });
    // Gathering never started: no setLocalDescription.
    expect(await waitForIceGatheringComplete(a, 50)).toBe('timeout');
  });

  it('rejects a missing ICE server list', () => {
    expect(() => createPeerConnection({} as unknown as PeerConnectionOptions)).toThrow(TypeError);
  });
});
