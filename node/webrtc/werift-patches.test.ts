/**
 * Postern's werift patch set (patches/werift+0.24.4+*.patch, docs/upstream/werift.md): that the
 * installed werift carries it and `werift-stock` does not, the start-up check, and each change's
 * behaviour, on werift's own classes (patched) and against werift as shipped (`werift-stock`, in
 * this process for byte comparisons and in a child process for a full data channel).
 *
 * werift declares most of the SCTP association's state private; the tests that feed it
 * hand-made packets read and set that state through `SctpUnderTest`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as werift from 'werift';
import { crc32c, RTCSctpTransport, TurnProtocol, UdpTransport, type Address, type RTCDataChannel, type RTCDtlsTransport, type RTCPeerConnection } from 'werift';
import * as stock from 'werift-stock';
import { connectPair } from './testing/loopback.ts';
import {
  createPeerConnection,
  DEFAULT_UDP_BUFFER_BYTES,
  POSTERN_SCTP_MAX_PACKET,
  sctpPacketBytes,
  startSctpPathMtuDiscovery,
  waitForIceGatheringComplete,
  WERIFT_BUILD,
} from './peer.ts';
import { ALLOW_STOCK_WERIFT_ENV, assertWeriftPatched, checkWeriftPatches, loadedWeriftPatches, WERIFT_PATCHES } from './werift-patches.ts';

const open: RTCPeerConnection[] = [];
function peer() {
  const pc = createPeerConnection({ iceServers: [], iceUseIpv6: false });
  open.push(pc);
  return pc;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((pc) => pc.close()));
});

function pattern(seed: number, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = ((seed * 31 + (offset + i) * 2654435761) >>> 13) & 0xff;
  return buf;
}

/** Sends `data` as `size`-byte messages, pacing on bufferedAmount/bufferedamountlow. */
async function sendPaced(ch: RTCDataChannel, data: Buffer, size: number, high = 1 << 20): Promise<{ lowEvents: number }> {
  let lowEvents = 0;
  let wake: (() => void) | undefined;
  ch.bufferedAmountLowThreshold = high / 4;
  const sub = ch.bufferedAmountLow.subscribe(() => {
    lowEvents++;
    wake?.();
  });
  for (let off = 0; off < data.length; off += size) {
    while (ch.bufferedAmount > high) await new Promise<void>((r) => (wake = r));
    ch.send(data.subarray(off, off + size));
  }
  sub.unSubscribe();
  return { lowEvents };
}

function collect(ch: RTCDataChannel, total: number, timeoutMs = 50_000): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout after ${got} of ${total} bytes`)), timeoutMs);
    ch.onMessage.subscribe((m) => {
      const b = Buffer.from(m);
      parts.push(b);
      got += b.length;
      if (got >= total) {
        clearTimeout(timer);
        resolve(Buffer.concat(parts));
      }
    });
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ------------------------------------------------------------------------------- the check

describe('the patch set is installed, and checked at start-up', () => {
  it('werift carries every change, in patch order; werift-stock carries none', () => {
    expect(loadedWeriftPatches()).toEqual(WERIFT_PATCHES);
    expect(werift.posternPatches).toEqual(WERIFT_PATCHES);
    expect(WERIFT_BUILD).toBe('patched');
    expect(assertWeriftPatched()).toBe('patched');
    // The alias really is werift as shipped: no marker, no new option, Google's STUN default.
    expect('posternPatches' in stock).toBe(false);
    expect('socketBufferSize' in stock.UdpTransport).toBe(false);
    expect(new stock.Connection(true, {}).stunServer).toEqual(['stun.l.google.com', 19302]);
    expect(new werift.Connection(true, {}).stunServer).toBeUndefined();
  });

  it('refuses stock werift with an error that says how to repair the install, unless stock is asked for', () => {
    expect(() => checkWeriftPatches(undefined, {})).toThrow(/werift is not patched.*npm ci/);
    expect(() => checkWeriftPatches(undefined, { [ALLOW_STOCK_WERIFT_ENV]: 'yes' })).toThrow(/not patched/);
    expect(checkWeriftPatches(undefined, { [ALLOW_STOCK_WERIFT_ENV]: '1' })).toBe('stock');
  });

  it('refuses a werift with another patch set (one missing, another order, one too many)', () => {
    expect(checkWeriftPatches([...WERIFT_PATCHES], {})).toBe('patched');
    expect(() => checkWeriftPatches(WERIFT_PATCHES.slice(1), {})).toThrow(/another patch set.*npm ci/);
    expect(() => checkWeriftPatches([...WERIFT_PATCHES].reverse(), { [ALLOW_STOCK_WERIFT_ENV]: '1' })).toThrow(/another patch set/);
    expect(() => checkWeriftPatches([...WERIFT_PATCHES, 'extra'], {})).toThrow(/another patch set/);
  });
});

// ------------------------------------------------------------------------------------ ICE

describe('ice-no-implicit-stun', () => {
  it('keeps a configured STUN server and adds none', () => {
    expect(new werift.Connection(true, { stunServer: ['127.0.0.1', 3478] }).stunServer).toEqual(['127.0.0.1', 3478]);
    expect(new werift.Connection(true, { stunServer: undefined }).stunServer).toBeUndefined();
  });
});

// ------------------------------------------------------------------------------------ UDP

describe('udp-socket-buffers / udp-send-isip-cache', () => {
  it('raises the buffers (4 MiB by default, set by peer.ts) and delivers to IP literals and to host names (resolved once, not per datagram)', async () => {
    expect(UdpTransport.socketBufferSize).toBe(DEFAULT_UDP_BUFFER_BYTES);
    const rx = createSocket('udp4');
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    rx.on('message', (m) => got.push(String(m)));
    const t = await UdpTransport.init('udp4');
    try {
      expect(t.socket.getRecvBufferSize()).toBeGreaterThanOrEqual(1024 * 1024);
      expect(t.socket.getSendBufferSize()).toBeGreaterThanOrEqual(1024 * 1024);
      const port = rx.address().port;
      await t.send(Buffer.from('ip'), ['127.0.0.1', port]);
      for (let i = 0; i < 5; i++) {
        await t.send(Buffer.from(`name${i}`), ['localhost', port]);
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(got.sort()).toEqual(['ip', 'name0', 'name1', 'name2', 'name3', 'name4']);
    } finally {
      await t.close();
      rx.close();
    }
  });

  it('keeps the operating system default with 0, and a per-transport bufferSize wins', async () => {
    const saved = UdpTransport.socketBufferSize;
    try {
      UdpTransport.socketBufferSize = 0;
      const plain = await UdpTransport.init('udp4');
      const sized = await UdpTransport.init('udp4', { bufferSize: 2 * 1024 * 1024 });
      try {
        expect(plain.socket.getRecvBufferSize()).toBeLessThan(1024 * 1024);
        expect(sized.socket.getRecvBufferSize()).toBeGreaterThanOrEqual(2 * 1024 * 1024);
      } finally {
        await plain.close();
        await sized.close();
      }
    } finally {
      UdpTransport.socketBufferSize = saved;
    }
  });
});

// ----------------------------------------------------------------------------------- DTLS

/** The DtlsSocket of a connected peer, with the members these tests use. */
interface DtlsSocketUnderTest {
  transport: { send(buf: Buffer): Promise<void>; socket: { onData(data: Buffer): void } };
  cipher: { cipher: { encrypt(...args: unknown[]): Buffer; decrypt(...args: unknown[]): Buffer } };
  onData: { subscribe(f: (data: Buffer) => void): unknown };
}
function dtlsSocketOf(pc: RTCPeerConnection): DtlsSocketUnderTest {
  const transport = pc.sctpTransport?.dtlsTransport;
  if (!transport?.dtls) throw new Error('no DTLS transport');
  return transport.dtls as unknown as DtlsSocketUnderTest;
}

describe('dtls-record-fastpath', () => {
  it('seals and opens application data without werift’s record objects, and drops a forged record', async () => {
    const a = peer();
    const b = peer();
    const { offererChannel, answererChannel } = await connectPair(a, b);
    const [da, db] = [dtlsSocketOf(a), dtlsSocketOf(b)];
    // werift's AEADCipher is only used by its generic record path: count its calls.
    let generic = 0;
    for (const d of [da, db]) {
      const { encrypt, decrypt } = d.cipher.cipher;
      d.cipher.cipher.encrypt = (...args) => (generic++, encrypt.apply(d.cipher.cipher, args));
      d.cipher.cipher.decrypt = (...args) => (generic++, decrypt.apply(d.cipher.cipher, args));
    }
    const sent: Buffer[] = [];
    const send = da.transport.send.bind(da.transport);
    da.transport.send = (buf) => (sent.push(Buffer.from(buf)), send(buf));
    const data = randomBytes(256 * 1024);
    const got = collect(answererChannel, data.length);
    await sendPaced(offererChannel, data, 16 * 1024);
    expect((await got).equals(data)).toBe(true);
    expect(generic).toBe(0);
    // One record per datagram: type 23, DTLS 1.2, epoch 1, the length field covers the rest.
    const record = sent.find((r) => r.length > 1000)!;
    expect([record[0], record.readUInt16BE(1), record.readUInt16BE(3), record.readUInt16BE(11) + 13]).toEqual([23, 0xfefd, 1, record.length]);

    let delivered = 0;
    db.onData.subscribe(() => delivered++);
    const forged = Buffer.from(record);
    forged[40]! ^= 1;
    expect(() => db.transport.socket.onData(forged)).not.toThrow();
    expect(delivered).toBe(0);
    db.transport.socket.onData(record); // the genuine one (a replay at this layer) still opens
    expect(delivered).toBe(1);
  }, 60_000);
});

// ----------------------------------------------------------------------------------- TURN

/** A TurnProtocol's state as werift keeps it, with a recording transport. */
function turnState(bound: boolean) {
  const peerAddr: Address = ['127.0.0.1', 50000];
  const sent: { data: Buffer; addr: unknown }[] = [];
  const slow: string[] = [];
  const state = {
    server: ['127.0.0.1', 3478],
    transport: {
      type: 'udp',
      closed: false,
      send: async (data: Buffer, addr: unknown) => void sent.push({ data: Buffer.from(data), addr }),
      close: async () => void slow.push('close'),
    },
    channelByAddr: bound
      ? { [JSON.stringify(peerAddr)]: { number: 0x4001, address: peerAddr, refreshAt: Math.floor(Date.now() / 1000) + 300 } }
      : ({} as Record<string, { refreshAt: number }>),
    channelBindingByAddr: new Map(),
    // werift's own path, when taken, starts here:
    getChannel: async () => {
      slow.push('getChannel');
      return undefined;
    },
    getPermission: async () => void slow.push('getPermission'),
    sendStun: async () => void slow.push('sendStun'),
  };
  return { state, turn: state as unknown as TurnProtocol, peerAddr, sent, slow };
}

describe('turn-channel-fastpath', () => {
  it('frames a datagram for a bound channel as werift does (RFC 8656 ChannelData, no padding over UDP)', async () => {
    const { turn, peerAddr, sent, slow } = turnState(true);
    const data = Buffer.from('a DTLS record of odd length');
    await TurnProtocol.prototype.sendData.call(turn, data, peerAddr);
    expect(slow).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.addr).toEqual(['127.0.0.1', 3478]);
    expect(sent[0]!.data.readUInt16BE(0)).toBe(0x4001);
    expect(sent[0]!.data.readUInt16BE(2)).toBe(data.length);
    expect(sent[0]!.data.subarray(4)).toEqual(data);
  });

  it('leaves werift’s path for an unbound channel, a channel due for refresh, and TCP', async () => {
    const unbound = turnState(false);
    await TurnProtocol.prototype.sendData.call(unbound.turn, Buffer.from('x'), unbound.peerAddr);
    expect(unbound.slow[0]).toBe('getChannel');

    const stale = turnState(true);
    for (const c of Object.values(stale.state.channelByAddr)) c.refreshAt = 0;
    await TurnProtocol.prototype.sendData.call(stale.turn, Buffer.from('x'), stale.peerAddr);
    expect(stale.slow[0]).toBe('getChannel');

    const tcp = turnState(true);
    tcp.state.transport.type = 'tcp';
    await TurnProtocol.prototype.sendData.call(tcp.turn, Buffer.from('x'), tcp.peerAddr);
    expect(tcp.slow[0]).toBe('getChannel');
  });
});

describe('turn-release-on-close', () => {
  function allocation(succeeded: boolean, answer: () => Promise<unknown>) {
    const { state, slow } = turnState(true);
    const requests: { method: number; lifetime: unknown }[] = [];
    const s = Object.assign(state, {
      relayedAddress: succeeded ? ['127.0.0.1', 40000] : undefined,
      integrityKey: Buffer.alloc(16),
      refreshHandle: { resolve: () => void slow.push('refresh stopped') },
      requestWithRetry: async (request: { messageMethod: number; getAttributeValue(name: string): unknown }) => {
        requests.push({ method: request.messageMethod, lifetime: request.getAttributeValue('LIFETIME') });
        return answer();
      },
    });
    return { turn: s as unknown as TurnProtocol, requests, slow };
  }

  it('deletes the allocation (Refresh, LIFETIME 0, RFC 8656 §7.2) before closing the socket, once', async () => {
    const { turn, requests, slow } = allocation(true, async () => [{}, ['127.0.0.1', 3478]]);
    await TurnProtocol.prototype.close.call(turn);
    await TurnProtocol.prototype.close.call(turn);
    expect(requests).toEqual([{ method: 4, lifetime: 0 }]);
    expect(slow).toEqual(['refresh stopped', 'refresh stopped', 'close', 'refresh stopped', 'close']);
  });

  it('waits at most half a second for the server, and sends nothing for an allocation that never succeeded', async () => {
    const silent = allocation(true, () => new Promise(() => {}));
    const t0 = Date.now();
    await TurnProtocol.prototype.close.call(silent.turn);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(silent.slow.at(-1)).toBe('close');
    const never = allocation(false, async () => []);
    await TurnProtocol.prototype.close.call(never.turn);
    expect(never.requests).toEqual([]);
  });
});

// ----------------------------------------------------------------------------------- SCTP

/** The association's members these tests use (werift declares most of them private). */
interface SctpUnderTest {
  localVerificationTag: number;
  remoteVerificationTag: number;
  remotePort?: number;
  lastReceivedTsn: number;
  localTsn: number;
  associationState: number;
  state: string;
  rto: number;
  cwnd: number;
  ssthresh?: number;
  flightSize: number;
  peerAdvertisedRwnd: number;
  pathMtu: { packetBytes: number; tried: { size: number; ok: boolean }[] };
  readonly packetBytes: number;
  readonly userDataMax: number;
  onReceive: { subscribe(f: (streamId: number, ppId: number, data: Buffer) => void): unknown };
  handleData(data: Buffer): Promise<void>;
  updateRto(r: number): void;
  send(streamId: number, ppId: number, data: Buffer): Promise<void>;
  discoverPathMtu(options: { ceiling: number; timeoutMs?: number; attempts?: number; random?: (n: number) => Uint8Array }): Promise<number>;
}
interface SctpTestTransport {
  send(packet: Buffer): Promise<void>;
  onData?: unknown;
}
type SctpClass = new (transport: SctpTestTransport, port: number) => SctpUnderTest;

/** werift's SCTP class (not exported), from an RTCSctpTransport of `from` (patched or stock). */
function sctpClass(from: { RTCSctpTransport: typeof RTCSctpTransport } = { RTCSctpTransport }): SctpClass {
  const t = new from.RTCSctpTransport();
  const fakeDtls = {
    id: 'x',
    onStateChange: { subscribe: () => ({ unSubscribe() {} }) },
    sendData: async () => undefined,
    iceTransport: { role: 'controlled' },
  };
  t.setDtlsTransport(fakeDtls as unknown as RTCDtlsTransport);
  return t.sctp.constructor as unknown as SctpClass;
}

const LOCAL_TAG = 0x11223344;
const REMOTE_TAG = 0x55667788;

/** An established association whose packets go to `sent` (and to `onSend`, if given). */
function association(Sctp: SctpClass = sctpClass(), onSend?: (packet: Buffer, sctp: SctpUnderTest) => void) {
  const sent: Buffer[] = [];
  const transport: SctpTestTransport = {
    send: async (packet) => {
      sent.push(Buffer.from(packet));
      onSend?.(packet, sctp);
    },
  };
  const sctp = new Sctp(transport, 5000);
  sctp.localVerificationTag = LOCAL_TAG;
  sctp.remoteVerificationTag = REMOTE_TAG;
  sctp.remotePort = 5000;
  sctp.associationState = 4;
  sctp.state = 'connected';
  return { sctp, sent };
}

/** A packet from the peer: common header with our tag, the chunks, a valid CRC32c. */
function packetOf(...chunks: Buffer[]): Buffer {
  const packet = Buffer.concat([Buffer.alloc(12), ...chunks]);
  packet.writeUInt16BE(5000, 0);
  packet.writeUInt16BE(5000, 2);
  packet.writeUInt32BE(LOCAL_TAG, 4);
  packet.writeUInt32LE(crc32c(packet), 8); // the checksum field is still zero here
  return packet;
}
function dataChunk(tsn: number, ssn: number, payload = Buffer.from(`m${tsn}`), flags = 3): Buffer {
  const length = 16 + payload.length;
  const chunk = Buffer.alloc(length + ((4 - (length % 4)) % 4));
  chunk[0] = 0;
  chunk[1] = flags;
  chunk.writeUInt16BE(length, 2);
  chunk.writeUInt32BE(tsn, 4);
  chunk.writeUInt16BE(0, 8);
  chunk.writeUInt16BE(ssn, 10);
  chunk.writeUInt32BE(53, 12);
  payload.copy(chunk, 16);
  return chunk;
}
function sackChunk(cumulativeTsn: number, gaps: [number, number][] = []): Buffer {
  const chunk = Buffer.alloc(16 + 4 * gaps.length);
  chunk[0] = 3;
  chunk.writeUInt16BE(chunk.length, 2);
  chunk.writeUInt32BE(cumulativeTsn, 4);
  chunk.writeUInt32BE(1 << 20, 8);
  chunk.writeUInt16BE(gaps.length, 12);
  gaps.forEach(([s, e], i) => {
    chunk.writeUInt16BE(s, 16 + 4 * i);
    chunk.writeUInt16BE(e, 18 + 4 * i);
  });
  return chunk;
}

interface Sack {
  cumulativeTsn: number;
  gaps: [number, number][];
  duplicates: number;
}
function parseSack(packet: Buffer): Sack | undefined {
  if (packet[12] !== 3) return undefined;
  const gaps: [number, number][] = [];
  const n = packet.readUInt16BE(24);
  for (let i = 0; i < n; i++) gaps.push([packet.readUInt16BE(28 + 4 * i), packet.readUInt16BE(30 + 4 * i)]);
  return { cumulativeTsn: packet.readUInt32BE(16), gaps, duplicates: packet.readUInt16BE(26) };
}

function receiverAt(lastReceivedTsn: number) {
  const { sctp, sent } = association();
  sctp.lastReceivedTsn = lastReceivedTsn;
  const delivered: Buffer[] = [];
  sctp.onReceive.subscribe((_s, _p, data) => delivered.push(data));
  const feed = (tsn: number, ssn: number) => sctp.handleData(packetOf(dataChunk(tsn, ssn)));
  const sacks = () => sent.map(parseSack).filter((s): s is Sack => !!s);
  return { sctp, feed, sacks, delivered };
}
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('sctp-packet-fastpath', () => {
  it('sends the DATA packets werift as shipped sends, byte for byte, and takes them', async () => {
    const payload = randomBytes(3000); // three chunks: first, middle, last fragment
    const packets = [];
    for (const Sctp of [sctpClass(stock), sctpClass()]) {
      const { sctp, sent } = association(Sctp);
      sctp.localTsn = 4242;
      sctp.cwnd = 1 << 20;
      sctp.peerAdvertisedRwnd = 1 << 20;
      void sctp.send(7, 53, payload);
      await nextTurn();
      packets.push(sent.filter((p) => p[12] === 0));
    }
    const [stockPackets, patchedPackets] = packets;
    expect(patchedPackets).toHaveLength(3);
    expect(patchedPackets).toEqual(stockPackets);
    const r = receiverAt(4241);
    for (const p of stockPackets!) {
      p.writeUInt32BE(LOCAL_TAG, 4);
      p.writeUInt32LE(0, 8);
      p.writeUInt32LE(crc32c(p), 8);
      await r.sctp.handleData(p);
    }
    expect(Buffer.concat(r.delivered).equals(payload)).toBe(true);
  });

  it('rejects a packet with a bad checksum, as werift does', async () => {
    const r = receiverAt(99);
    const bad = packetOf(dataChunk(100, 0));
    bad[30]! ^= 1;
    await expect(r.sctp.handleData(bad)).rejects.toThrow(/checksum/);
    expect(r.delivered).toEqual([]);
  });
});

describe('sctp-sack-coalescing and sctp-tsn-tracking (RFC 4960 §6.2, §6.7)', () => {
  it('acknowledges every second packet at once, and a lone packet within the same I/O turn', async () => {
    const r = receiverAt(99);
    await r.feed(100, 0);
    expect(r.sacks()).toHaveLength(0); // delayed…
    await r.feed(101, 1);
    expect(r.sacks()).toHaveLength(1); // …second packet: immediate
    expect(r.sacks()[0]!.cumulativeTsn).toBe(101);
    await r.feed(102, 2);
    expect(r.sacks()).toHaveLength(1);
    await nextTurn(); // not 200 ms: end of this I/O turn
    expect(r.sacks()).toHaveLength(2);
    expect(r.sacks()[1]!.cumulativeTsn).toBe(102);
    expect(r.delivered.map(String)).toEqual(['m100', 'm101', 'm102']);
  });

  it('acknowledges immediately on a gap and on a duplicate, and reports the gap block', async () => {
    const r = receiverAt(99);
    await r.feed(100, 0);
    await r.feed(102, 2); // 101 missing
    let last = r.sacks().at(-1)!;
    expect(last.cumulativeTsn).toBe(100);
    expect(last.gaps).toEqual([[2, 2]]);
    await r.feed(103, 3);
    last = r.sacks().at(-1)!;
    expect(last.gaps).toEqual([[2, 3]]);
    const before = r.sacks().length;
    await r.feed(100, 0); // duplicate
    expect(r.sacks().length).toBe(before + 1);
    await r.feed(101, 1);
    await nextTurn();
    expect(r.sacks().at(-1)!.cumulativeTsn).toBe(103);
    expect(r.sacks().at(-1)!.gaps).toEqual([]);
    expect(r.delivered.map(String)).toEqual(['m100', 'm101', 'm102', 'm103']);
  });

  it('orders TSNs as serial numbers: across a power of ten and across 2^32 (werift sorted them as strings)', async () => {
    const r = receiverAt(998);
    await r.feed(1000, 1);
    await r.feed(999, 0);
    await nextTurn();
    expect(r.sctp.lastReceivedTsn).toBe(1000);
    const w = receiverAt(2 ** 32 - 3);
    await w.feed(0, 2); // arrives before 2^32-2 and 2^32-1
    expect(w.sacks().at(-1)!.gaps).toEqual([[3, 3]]);
    await w.feed(2 ** 32 - 1, 1);
    expect(w.sacks().at(-1)!.gaps).toEqual([[2, 3]]);
    await w.feed(2 ** 32 - 2, 0);
    await w.feed(1, 3);
    await nextTurn();
    expect(w.sctp.lastReceivedTsn).toBe(1);
    expect(w.sacks().at(-1)!.cumulativeTsn).toBe(1);
    expect(w.delivered.map(String)).toEqual([`m${2 ** 32 - 2}`, `m${2 ** 32 - 1}`, 'm0', 'm1']);
  });
});

describe('sctp-rto-min', () => {
  it('lets the RTO follow a short RTT down to 200 ms instead of 1 s, and keeps the 60 s ceiling', () => {
    const { sctp } = association();
    for (let i = 0; i < 20; i++) sctp.updateRto(0.001);
    expect(sctp.rto).toBe(0.2);
    sctp.updateRto(0.5);
    expect(sctp.rto).toBeGreaterThan(0.5); // SRTT + 4·RTTVAR, RFC 4960 §6.3.1
    for (let i = 0; i < 5; i++) sctp.updateRto(100);
    expect(sctp.rto).toBe(60);
    const stockSctp = association(sctpClass(stock)).sctp;
    for (let i = 0; i < 20; i++) stockSctp.updateRto(0.001);
    expect(stockSctp.rto).toBe(1);
  });
});

// ------------------------------------------------------------------------ sctp-path-mtu

/** The Heartbeat Info a peer echoes for a probe packet (what follows the parameter header). */
function infoOf(packet: Buffer): Buffer {
  return packet.subarray(20, 16 + packet.readUInt16BE(18));
}
/** A peer that echoes probes up to `maxSize` bytes (optionally altering the info first). */
function echoing(maxSize: number, alter: (info: Buffer) => Buffer = (i) => i) {
  return (packet: Buffer, sctp: SctpUnderTest) => {
    if (packet[12] !== 4 || packet.length > maxSize) return;
    const info = alter(Buffer.from(infoOf(packet)));
    const param = Buffer.alloc(4 + info.length);
    param.writeUInt16BE(1, 0);
    param.writeUInt16BE(param.length, 2);
    info.copy(param, 4);
    const chunk = Buffer.concat([Buffer.from([5, 0, 0, 0]), param, Buffer.alloc((4 - (param.length % 4)) % 4)]);
    chunk.writeUInt16BE(4 + param.length, 2);
    setTimeout(() => void sctp.handleData(packetOf(chunk)), 1);
  };
}
const counter = () => {
  let n = 0;
  return (len: number) => new Uint8Array(len).fill(++n);
};

describe('sctp-path-mtu (RFC 8899 §6.2.1, a padded HEARTBEAT)', () => {
  it('probes with a HEARTBEAT of exactly the probed size, takes the ceiling when it is echoed, and raises cwnd to RFC 4960’s initial window in that size', async () => {
    const { sctp, sent } = association(sctpClass(), echoing(65536));
    expect(sctp.packetBytes).toBe(1228);
    expect(await sctp.discoverPathMtu({ ceiling: 16384, random: counter() })).toBe(16384);
    const probe = sent.find((p) => p[12] === 4)!;
    expect(probe.length).toBe(16384);
    expect(probe.readUInt32LE(8)).toBe(crc32c(Buffer.concat([probe.subarray(0, 8), Buffer.alloc(4), probe.subarray(12)])));
    expect([probe.readUInt16BE(14), probe.readUInt16BE(16), probe.readUInt16BE(18)]).toEqual([16384 - 12, 1, 16384 - 16]);
    expect(sctp.packetBytes).toBe(16384);
    expect(sctp.userDataMax).toBe(16384 - 28);
    expect(sctp.cwnd).toBe(2 * 16384); // min(4·MTU, max(2·MTU, 4380))
    expect(sctp.pathMtu.tried).toEqual([{ size: 16384, ok: true }]);
  });

  it('steps down by halves when larger probes go unanswered (a path or peer that drops them)', async () => {
    const { sctp } = association(sctpClass(), echoing(5000));
    expect(await sctp.discoverPathMtu({ ceiling: 16384, timeoutMs: 20, random: counter() })).toBe(4096);
    expect(sctp.pathMtu.tried.map((t) => `${t.size}:${t.ok}`)).toEqual(['16384:false', '16384:false', '8192:false', '8192:false', '4096:true']);
  });

  it('stays at werift’s size when nothing is echoed, or the echo is forged or cut short', async () => {
    const { sctp } = association();
    expect(await sctp.discoverPathMtu({ ceiling: 16384, timeoutMs: 10, attempts: 1, random: counter() })).toBe(1228);
    expect(sctp.userDataMax).toBe(1200);
    expect(sctp.cwnd).toBe(3600);
    const forged = association(
      sctpClass(),
      echoing(65536, (info) => {
        info[8]! ^= 0xff; // another nonce
        return info;
      }),
    ).sctp;
    expect(await forged.discoverPathMtu({ ceiling: 4096, timeoutMs: 20, attempts: 1, random: counter() })).toBe(1228);
    const truncated = association(
      sctpClass(),
      echoing(65536, (info) => info.subarray(0, 100)),
    ).sctp;
    expect(await truncated.discoverPathMtu({ ceiling: 4096, timeoutMs: 20, attempts: 1, random: counter() })).toBe(1228);
  });

  it('stops when the association closes, and survives a transport that throws', async () => {
    const closing = association(sctpClass(), (_p, sctp) => {
      sctp.associationState = 1;
    });
    expect(await closing.sctp.discoverPathMtu({ ceiling: 16384, timeoutMs: 10, random: counter() })).toBe(1228);
    expect(closing.sent.length).toBe(1);
    const throwing = association(sctpClass(), () => {
      throw new Error('DTLS closed');
    });
    expect(await throwing.sctp.discoverPathMtu({ ceiling: 8192, timeoutMs: 1000, attempts: 1, random: counter() })).toBe(1228);
  });

  it('cuts DATA chunks to the confirmed size, grows cwnd by up to one such packet in slow start, and floors ssthresh at four of them after a loss', async () => {
    const { sctp, sent } = association(sctpClass(), echoing(65536));
    await sctp.discoverPathMtu({ ceiling: 16384, random: counter() });
    const tsn = sctp.localTsn;
    sctp.cwnd = 1 << 20;
    sctp.ssthresh = 1 << 22;
    sctp.peerAdvertisedRwnd = 1 << 22;
    for (let i = 0; i < 6; i++) void sctp.send(0, 53, Buffer.alloc(16356, i));
    await nextTurn();
    const data = sent.filter((p) => p[12] === 0);
    expect(data.map((p) => p.length)).toEqual(Array(6).fill(16384));
    // Slow start: two chunks acknowledged with the window full → +min(32712, 16384).
    sctp.cwnd = sctp.flightSize;
    const slowStart = sctp.cwnd;
    await sctp.handleData(packetOf(sackChunk(tsn + 1)));
    expect(sctp.cwnd).toBe(slowStart + 16384);
    // Loss: tsn+2 reported missing by three SACKs → ssthresh = max(cwnd/2, 4 × 16384).
    sctp.cwnd = 40_000;
    for (const end of [2, 3, 4]) await sctp.handleData(packetOf(sackChunk(tsn + 1, [[2, end]])));
    expect(sctp.ssthresh).toBe(4 * 16384);
  });
});

// ------------------------------------------------------------------------ end to end

describe('end to end, werift ↔ werift, both patched', () => {
  it('probes 16 KiB SCTP packets on loopback and moves 8 MiB byte-exact as 64 KiB messages, paced by bufferedamountlow', async () => {
    const a = peer();
    const b = peer();
    const { offererChannel, answererChannel } = await connectPair(a, b);
    // Both peers are ours and on one host (the loopback link): 16 KiB packets.
    expect(await Promise.all([startSctpPathMtuDiscovery(a, POSTERN_SCTP_MAX_PACKET), startSctpPathMtuDiscovery(b, POSTERN_SCTP_MAX_PACKET)])).toEqual([
      16384, 16384,
    ]);
    expect(sctpPacketBytes(a)).toBe(16384);
    const data = randomBytes(8 * 1024 * 1024);
    const got = collect(answererChannel, data.length);
    const { lowEvents } = await sendPaced(offererChannel, data, 64 * 1024);
    const received = await got;
    expect(sha256(received)).toBe(sha256(data));
    expect(lowEvents).toBeGreaterThan(0); // bufferedamountlow paces the sender
  }, 120_000);

  it('does not stall when thousands of 16 KiB messages are queued at once (werift’s O(n²) flush waiters)', async () => {
    const a = peer();
    const b = peer();
    const { offererChannel, answererChannel } = await connectPair(a, b);
    const total = 2048 * 16 * 1024; // 32 MiB queued without pause
    const data = pattern(7, 0, total);
    const got = collect(answererChannel, total, 100_000);
    const amounts: number[] = [];
    for (let off = 0; off < total; off += 16 * 1024) offererChannel.send(data.subarray(off, off + 16 * 1024));
    const watch = setInterval(() => amounts.push(offererChannel.bufferedAmount), 100);
    try {
      const received = await got;
      expect(received.equals(data)).toBe(true);
    } finally {
      clearInterval(watch);
    }
    // bufferedAmount drains progressively (werift only dropped it when the queue was empty)
    const distinct = new Set(amounts.filter((x) => x > 0 && x < total));
    expect(distinct.size).toBeGreaterThan(1);
    // Nobody asked for path MTU discovery: werift's 1,228-byte packets, as with any other peer.
    expect(sctpPacketBytes(a)).toBe(1228);
  }, 120_000);
});

describe('interop: patched werift (this process) ↔ werift as shipped (werift-stock, child process)', () => {
  let child: ChildProcess;
  const inbox: { type: string; [k: string]: unknown }[] = [];
  const pending = new Set<() => boolean>();
  const next = (type: string, timeoutMs = 60_000) =>
    new Promise<{ type: string; [k: string]: unknown }>((resolve, reject) => {
      const check = () => {
        const i = inbox.findIndex((m) => m.type === type);
        if (i < 0) return false;
        clearTimeout(timer);
        resolve(inbox.splice(i, 1)[0]!);
        return true;
      };
      const timer = setTimeout(() => {
        pending.delete(check);
        reject(new Error(`no ${type} from the unpatched peer`));
      }, timeoutMs);
      if (!check()) pending.add(check);
    });

  beforeAll(async () => {
    child = fork(fileURLToPath(new URL('./testing/unpatched-peer.fixture.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: { type: string }) => {
      inbox.push(m);
      for (const check of [...pending]) if (check()) pending.delete(check);
    });
    await next('ready');
  });
  afterAll(() => {
    child?.send({ type: 'close' });
    setTimeout(() => child?.kill(), 2000).unref();
  });

  it('opens a channel, probes 16 KiB SCTP packets, and moves 8 MiB each way, byte-exact', async () => {
    const pc = peer(); // patched, the CLI's role: offerer
    const channel = pc.createDataChannel('tunnel', { ordered: true });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGatheringComplete(pc, 5000);
    child.send({ type: 'offer', sdp: pc.localDescription });
    const answer = await next('answer');
    await pc.setRemoteDescription(answer['sdp'] as Parameters<RTCPeerConnection['setRemoteDescription']>[0]);
    await next('channel');
    await new Promise<void>((r) => (channel.readyState === 'open' ? r() : channel.stateChanged.subscribe((s) => s === 'open' && r())));
    // Stock werift echoes a 16 KiB probe and takes 16 KiB DATA chunks: what POSTERN_SCTP_MAX_PACKET
    // promises for every werift peer.
    expect(await startSctpPathMtuDiscovery(pc, POSTERN_SCTP_MAX_PACKET)).toBe(16384);

    // patched → stock
    const total = 8 * 1024 * 1024;
    const data = randomBytes(total);
    child.send({ type: 'expect', bytes: total });
    await sendPaced(channel, data, 64 * 1024);
    const report = await next('received', 90_000);
    expect(report['bytes']).toBe(total);
    expect(report['sha256']).toBe(sha256(data));

    // stock → patched
    const got = collect(channel, total, 90_000);
    child.send({ type: 'send', bytes: total, seed: 3 });
    const received = await got;
    expect(received.equals(pattern(3, 0, total))).toBe(true);
  }, 180_000);
});
