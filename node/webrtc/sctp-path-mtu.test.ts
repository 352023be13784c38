import { describe, expect, it } from 'vitest';
import { DEFAULT_SCTP_PACKET } from './path-mtu.ts';
import { adjustCongestionWindow, buildProbePacket, discoverPathMtu, pathMtuState, probeSizes, snapshotBeforeSack, takeProbeAck, userDataMax } from './sctp-path-mtu.ts';
import { sctpChecksum } from './werift-tuning.ts';

/** The Heartbeat Info a peer echoes for a probe packet (what follows the parameter header). */
function infoOf(packet: Buffer): Buffer {
  return packet.subarray(20, 16 + packet.readUInt16BE(18));
}

/**
 * A stand-in for werift's association: `transport.send` hands each packet to `peer`, which may
 * echo the heartbeat (as werift's receiveChunk does) by calling takeProbeAck with an ack chunk.
 */
function fakeAssociation(peer: (packet: Buffer, self: any) => void) {
  const self: any = {
    associationState: 4,
    isStopped: false,
    localPort: 5000,
    remotePort: 5000,
    remoteVerificationTag: 0x11223344,
    cwnd: 3600,
    sent: [] as Buffer[],
    transport: {
      send: async (packet: Buffer) => {
        self.sent.push(packet);
        peer(packet, self);
      },
    },
  };
  return self;
}
const echo = (maxSize: number) => (packet: Buffer, self: any) => {
  if (packet.length <= maxSize) setTimeout(() => takeProbeAck(self, { type: 5, params: [[1, infoOf(packet)]] }), 1);
};
const counter = () => {
  let n = 0;
  return (len: number) => new Uint8Array(len).fill(++n);
};

describe('probe packets (RFC 8899 §6.2.1, a padded HEARTBEAT)', () => {
  it('are exactly the probed size, with a valid CRC32c, one HEARTBEAT chunk and one Heartbeat Info parameter', () => {
    const p = buildProbePacket(5000, 5001, 0xdeadbeef, new Uint8Array(8).fill(7), 16384);
    expect(p.length).toBe(16384);
    expect(p.readUInt32LE(8)).toBe(sctpChecksum(p));
    expect([p.readUInt16BE(0), p.readUInt16BE(2), p.readUInt32BE(4)]).toEqual([5000, 5001, 0xdeadbeef]);
    expect(p[12]).toBe(4); // HEARTBEAT
    expect(p.readUInt16BE(14)).toBe(16384 - 12); // chunk length: the rest of the packet
    expect(p.readUInt16BE(16)).toBe(1); // Heartbeat Info
    expect(p.readUInt16BE(18)).toBe(16384 - 16);
    expect(() => buildProbePacket(1, 1, 1, new Uint8Array(8), 1230)).toThrow(RangeError); // not a multiple of 4
  });

  it('go from the ceiling down by halves, never to the default or below', () => {
    expect(probeSizes(16384)).toEqual([16384, 8192, 4096, 2048]);
    expect(probeSizes(1432)).toEqual([1432]);
    expect(probeSizes(DEFAULT_SCTP_PACKET)).toEqual([]);
  });
});

describe('discoverPathMtu', () => {
  it('takes the ceiling when the peer echoes it, and raises cwnd to RFC 4960’s initial window in that size', async () => {
    const sctp = fakeAssociation(echo(65536));
    expect(await discoverPathMtu(sctp, { ceiling: 16384, random: counter() })).toBe(16384);
    expect(userDataMax(sctp)).toBe(16384 - 28);
    expect(sctp.cwnd).toBe(2 * 16384); // min(4·MTU, max(2·MTU, 4380))
    expect(pathMtuState(sctp)!.tried).toEqual([{ size: 16384, ok: true }]);
  });

  it('steps down when larger probes go unanswered (a path or peer that drops them)', async () => {
    const sctp = fakeAssociation(echo(5000));
    expect(await discoverPathMtu(sctp, { ceiling: 16384, timeoutMs: 20, random: counter() })).toBe(4096);
    expect(pathMtuState(sctp)!.tried.map((t) => `${t.size}:${t.ok}`)).toEqual(['16384:false', '16384:false', '8192:false', '8192:false', '4096:true']);
  });

  it('stays at werift’s size when nothing is echoed, and werift’s associations without the state keep 1,200 bytes', async () => {
    const sctp = fakeAssociation(() => {});
    expect(await discoverPathMtu(sctp, { ceiling: 16384, timeoutMs: 10, attempts: 1, random: counter() })).toBe(DEFAULT_SCTP_PACKET);
    expect(userDataMax(sctp)).toBe(1200);
    expect(userDataMax({})).toBe(1200);
    expect(sctp.cwnd).toBe(3600);
  });

  it('ignores an echo with the wrong nonce or cut short, and stops when the association closes', async () => {
    const liar = fakeAssociation((packet, self) => {
      const info = Buffer.from(infoOf(packet));
      const forged = Buffer.from(info);
      forged[8] = forged[8]! ^ 0xff; // another nonce
      setTimeout(() => {
        expect(takeProbeAck(self, { type: 5, params: [[1, forged]] })).toBe(true); // ours, but not this probe
        expect(takeProbeAck(self, { type: 5, params: [[1, info.subarray(0, 100)]] })).toBe(true); // truncated
      }, 1);
    });
    expect(await discoverPathMtu(liar, { ceiling: 4096, timeoutMs: 20, attempts: 1, random: counter() })).toBe(DEFAULT_SCTP_PACKET);

    const closing = fakeAssociation((_p, self) => {
      self.associationState = 1;
    });
    expect(await discoverPathMtu(closing, { ceiling: 16384, timeoutMs: 10, random: counter() })).toBe(DEFAULT_SCTP_PACKET);
    expect(closing.sent.length).toBe(1);
  });

  it('leaves werift’s own heartbeat acks (a 4-byte time) and other chunks to werift', () => {
    const sctp = fakeAssociation(() => {});
    expect(takeProbeAck(sctp, { type: 5, params: [[1, Buffer.from([0, 0, 0, 1])]] })).toBe(false);
    expect(takeProbeAck(sctp, { type: 4, params: [] })).toBe(false);
    expect(takeProbeAck(sctp, { type: 5, params: [] })).toBe(false);
    expect(takeProbeAck(sctp, undefined)).toBe(false);
  });

  it('survives a transport that throws', async () => {
    const sctp = fakeAssociation(() => {});
    sctp.transport.send = async () => {
      throw new Error('DTLS closed');
    };
    expect(await discoverPathMtu(sctp, { ceiling: 8192, timeoutMs: 1000, attempts: 1, random: counter() })).toBe(DEFAULT_SCTP_PACKET);
  });
});

describe('adjustCongestionWindow (RFC 4960 §7.2 in the confirmed packet size)', () => {
  const confirmed = (packetBytes: number, fields: Record<string, unknown>) => ({ __posternPathMtu: { packetBytes, tried: [] }, fastRecoveryExit: undefined, ...fields });

  it('slow start: grows by the bytes acknowledged up to one packet, where werift grew by 1,200', () => {
    const sctp: any = confirmed(16384, { cwnd: 65536, ssthresh: 1 << 20, flightSize: 65536 });
    const before = snapshotBeforeSack(sctp);
    sctp.flightSize -= 32768; // werift: two 16 KiB chunks acknowledged …
    sctp.cwnd += 1200; // … and its step of min(acked, 1200)
    adjustCongestionWindow(sctp, before);
    expect(sctp.cwnd).toBe(65536 + 16384);
  });

  it('congestion avoidance: one packet per window acknowledged', () => {
    const sctp: any = confirmed(16384, { cwnd: 200_000, ssthresh: 100_000, flightSize: 200_000 });
    const before = snapshotBeforeSack(sctp);
    sctp.cwnd += 1200;
    adjustCongestionWindow(sctp, before);
    expect(sctp.cwnd).toBe(200_000 + 16384);
  });

  it('on loss: ssthresh is at least four packets (werift floors it at 4 × 1,200)', () => {
    const sctp: any = confirmed(16384, { cwnd: 40_000, ssthresh: 1 << 20, flightSize: 40_000 });
    const before = snapshotBeforeSack(sctp);
    sctp.ssthresh = 4800;
    sctp.cwnd = 4800;
    sctp.fastRecoveryExit = 1234;
    adjustCongestionWindow(sctp, before);
    expect([sctp.ssthresh, sctp.cwnd]).toEqual([4 * 16384, 4 * 16384]);
  });

  it('changes nothing at the default size or when werift did not grow the window', () => {
    const plain: any = { cwnd: 5000, ssthresh: 1 << 20, flightSize: 5000 };
    const b1 = snapshotBeforeSack(plain);
    plain.cwnd += 1200;
    adjustCongestionWindow(plain, b1);
    expect(plain.cwnd).toBe(6200);
    const idle: any = confirmed(16384, { cwnd: 65536, ssthresh: 1 << 20, flightSize: 1000 });
    const b2 = snapshotBeforeSack(idle);
    adjustCongestionWindow(idle, b2);
    expect(idle.cwnd).toBe(65536);
  });
});
