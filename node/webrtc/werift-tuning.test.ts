import { fork, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { crc32c, RTCDtlsTransport, RTCSctpTransport, TurnProtocol, UdpTransport, type RTCDataChannel, type RTCPeerConnection } from 'werift';
import { connectPair } from './testing/loopback.ts';
import { createPeerConnection, POSTERN_SCTP_MAX_PACKET, sctpPacketBytes, startSctpPathMtuDiscovery, waitForIceGatheringComplete } from './peer.ts';
import { applyWeriftTuning, gcmOpen, gcmSeal, PATCHES, sctpChecksum, tuningSettings } from './werift-tuning.ts';

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
  for (let i = 0; i < length; i++) buf[i] = ((seed * 31 + ((offset + i) * 2654435761)) >>> 13) & 0xff;
  return buf;
}

/** Sends `total` bytes as `size`-byte messages, pacing on bufferedAmount/bufferedamountlow. */
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
      const b = m as Buffer;
      parts.push(Buffer.from(b));
      got += b.length;
      if (got >= total) {
        clearTimeout(timer);
        resolve(Buffer.concat(parts));
      }
    });
  });
}

describe('applyWeriftTuning', () => {
  it('applies every patch once, and a second call changes nothing', () => {
    const first = applyWeriftTuning();
    expect(first.skipped).toEqual([]);
    expect([...first.applied].sort()).toEqual([...PATCHES].sort());
    const start = (RTCDtlsTransport.prototype as any).start;
    const setDtls = (RTCSctpTransport.prototype as any).setDtlsTransport;
    expect(applyWeriftTuning()).toBe(first);
    expect((RTCDtlsTransport.prototype as any).start).toBe(start);
    expect((RTCSctpTransport.prototype as any).setDtlsTransport).toBe(setDtls);
  });
});

describe('dtls-record-fastpath: AES-GCM interop with werift’s own cipher', () => {
  it('seals the bytes werift’s AEADCipher seals and opens what it seals, both directions', async () => {
    const a = peer();
    const b = peer();
    await connectPair(a, b);
    const ctxA = (a as any).dtlsTransports[0].dtls.cipher; // werift CipherContext
    const ctxB = (b as any).dtlsTransports[0].dtls.cipher;
    const aead = ctxA.cipher; // werift's AEADCipher, unpatched
    expect(aead.blockAlgorithm).toMatch(/^aes-(128|256)-gcm$/);
    expect(ctxA.sessionType).not.toBe(ctxB.sessionType);
    const aIsClient = ctxA.sessionType === 1;
    const writeKey = aIsClient ? aead.clientWriteKey : aead.serverWriteKey;
    const salt = Buffer.from((aIsClient ? aead.clientNonce : aead.serverNonce).subarray(0, 4));
    for (const size of [0, 1, 15, 16, 1200, 1244, 16_000]) {
      const plain = randomBytes(size);
      const header = { type: 23, version: 0xfefd, epoch: 1, sequenceNumber: 1000 + size };
      const theirs: Buffer = aead.encrypt(ctxA.sessionType, plain, header);
      const ours = gcmSeal(crypto, aead.blockAlgorithm, crypto.createSecretKey(writeKey), salt, 23, 0xfefd, 1, 1000 + size, plain);
      expect(ours.equals(theirs)).toBe(true);
      // werift's other side opens ours; we open werift's
      const byWerift: Buffer = ctxB.cipher.decrypt(ctxB.sessionType, ours, header);
      expect(Buffer.from(byWerift ?? []).equals(plain)).toBe(true);
      expect(gcmOpen(crypto, aead.blockAlgorithm, writeKey, salt, 23, 0xfefd, 1, 1000 + size, theirs).equals(plain)).toBe(true);
    }
  });

  it('rejects a tampered record (the record loop drops it)', () => {
    const key = crypto.createSecretKey(randomBytes(16));
    const salt = randomBytes(4);
    const sealed = gcmSeal(crypto, 'aes-128-gcm', key, salt, 23, 0xfefd, 1, 7, Buffer.from('hello'));
    expect(gcmOpen(crypto, 'aes-128-gcm', key, salt, 23, 0xfefd, 1, 7, sealed).toString()).toBe('hello');
    const bad = Buffer.from(sealed);
    bad[10]! ^= 1;
    expect(() => gcmOpen(crypto, 'aes-128-gcm', key, salt, 23, 0xfefd, 1, 7, bad)).toThrow();
    // wrong sequence number = wrong nonce and AAD
    expect(() => gcmOpen(crypto, 'aes-128-gcm', key, salt, 23, 0xfefd, 1, 8, sealed)).toThrow();
  });
});

describe('turn-channel-fastpath', () => {
  /** A TurnProtocol's state as werift keeps it, with a recording UDP transport. */
  function turnState(bound: boolean) {
    applyWeriftTuning();
    const peer: [string, number] = ['127.0.0.1', 50000];
    const sent: { data: Buffer; addr: unknown }[] = [];
    const slow: string[] = [];
    const state = {
      server: ['127.0.0.1', 3478],
      transport: { type: 'udp', closed: false, send: async (data: Buffer, addr: unknown) => void sent.push({ data: Buffer.from(data), addr }) },
      channelByAddr: bound ? { [JSON.stringify(peer)]: { number: 0x4001, address: peer, refreshAt: Math.floor(Date.now() / 1000) + 300 } } : {},
      channelBindingByAddr: new Map(),
      // werift's own path, when taken, starts here:
      getChannel: async () => {
        slow.push('getChannel');
        return undefined;
      },
      getPermission: async () => void slow.push('getPermission'),
      sendStun: async () => void slow.push('sendStun'),
    };
    return { state, peer, sent, slow };
  }

  it('frames a datagram for a bound channel as werift does (RFC 8656 ChannelData, no padding over UDP)', async () => {
    const { state, peer, sent, slow } = turnState(true);
    const data = Buffer.from('a DTLS record of odd length');
    await (TurnProtocol.prototype as any).sendData.call(state, data, peer);
    expect(slow).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.addr).toEqual(['127.0.0.1', 3478]);
    expect(sent[0]!.data.readUInt16BE(0)).toBe(0x4001);
    expect(sent[0]!.data.readUInt16BE(2)).toBe(data.length);
    expect(sent[0]!.data.subarray(4)).toEqual(data);
  });

  it('leaves werift’s path for an unbound channel, a channel due for refresh, and TCP', async () => {
    const unbound = turnState(false);
    await (TurnProtocol.prototype as any).sendData.call(unbound.state, Buffer.from('x'), unbound.peer);
    expect(unbound.slow[0]).toBe('getChannel');

    const stale = turnState(true);
    for (const c of Object.values(stale.state.channelByAddr)) c.refreshAt = 0;
    await (TurnProtocol.prototype as any).sendData.call(stale.state, Buffer.from('x'), stale.peer);
    expect(stale.slow[0]).toBe('getChannel');

    const tcp = turnState(true);
    tcp.state.transport.type = 'tcp';
    await (TurnProtocol.prototype as any).sendData.call(tcp.state, Buffer.from('x'), tcp.peer);
    expect(tcp.slow[0]).toBe('getChannel');
  });
});

describe('udp-socket-buffers / udp-send-isip-cache', () => {
  it('raises the buffers and delivers to IP literals and to host names (resolved once, not per datagram)', async () => {
    applyWeriftTuning();
    const rx = createSocket('udp4');
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    rx.on('message', (m) => got.push(String(m)));
    const t: any = await UdpTransport.init('udp4');
    try {
      expect(t.socket.getRecvBufferSize()).toBeGreaterThanOrEqual(1024 * 1024);
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
});

describe('sctp-packet-fastpath', () => {
  it('computes the RFC 4960 CRC32c without copying', () => {
    const packet = randomBytes(1244);
    const copy = Buffer.concat([packet.subarray(0, 8), Buffer.alloc(4), packet.subarray(12)]);
    expect(sctpChecksum(packet)).toBe(crc32c(copy));
  });
});

// ---- SCTP receiver rules, on a real werift association fed with hand-made packets ----------
function sctpClass(): any {
  const t = new RTCSctpTransport();
  const fakeDtls: any = { id: 'x', onStateChange: { subscribe: () => ({ unSubscribe() {} }) }, sendData: async () => undefined, iceTransport: { role: 'controlled' } };
  t.setDtlsTransport(fakeDtls);
  return (t as any).sctp.constructor;
}

function dataPacket(vtag: number, tsn: number, ssn: number, flags = 3): Buffer {
  const payload = Buffer.from(`m${tsn}`);
  const length = 16 + payload.length;
  const packet = Buffer.alloc(12 + length + ((4 - (length % 4)) % 4));
  packet.writeUInt16BE(5000, 0);
  packet.writeUInt16BE(5000, 2);
  packet.writeUInt32BE(vtag, 4);
  packet[12] = 0;
  packet[13] = flags;
  packet.writeUInt16BE(length, 14);
  packet.writeUInt32BE(tsn, 16);
  packet.writeUInt16BE(0, 20);
  packet.writeUInt16BE(ssn, 22);
  packet.writeUInt32BE(53, 24);
  payload.copy(packet, 28);
  packet.writeUInt32LE(sctpChecksum(packet), 8);
  return packet;
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
  const SCTP = sctpClass();
  const sent: Buffer[] = [];
  const delivered: Buffer[] = [];
  const transport = { send: async (b: Buffer) => void sent.push(b), set onData(_f: unknown) {} };
  const sctp = new SCTP(transport, 5000);
  sctp.localVerificationTag = 0x11223344;
  sctp.remoteVerificationTag = 0x55667788;
  sctp.remotePort = 5000;
  sctp.lastReceivedTsn = lastReceivedTsn;
  sctp.associationState = 4;
  sctp.state = 'connected';
  sctp.onReceive.subscribe((_s: number, _p: number, data: Buffer) => delivered.push(data));
  const feed = async (tsn: number, ssn: number) => sctp.handleData(dataPacket(0x11223344, tsn, ssn));
  const sacks = () => sent.map(parseSack).filter((s): s is Sack => !!s);
  return { sctp, feed, sacks, delivered };
}
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('sctp-sack-coalescing and sctp-tsn-tracking (RFC 4960 §6.2, §6.7)', () => {
  beforeAll(() => applyWeriftTuning());

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
    applyWeriftTuning();
    const SCTP = sctpClass();
    const s = new SCTP({ send: async () => undefined, set onData(_f: unknown) {} }, 5000);
    for (let i = 0; i < 20; i++) s.updateRto(0.001);
    expect(s.rto).toBe(tuningSettings.sctpRtoMinSeconds);
    s.updateRto(0.5);
    expect(s.rto).toBeGreaterThan(0.5); // SRTT + 4·RTTVAR, RFC 4960 §6.3.1
    for (let i = 0; i < 5; i++) s.updateRto(100);
    expect(s.rto).toBe(60);
  });
});

describe('end to end, werift ↔ werift, both patched', () => {
  it('moves 8 MiB byte-exact as 64 KiB messages', async () => {
    const a = peer();
    const b = peer();
    const { offererChannel, answererChannel } = await connectPair(a, b);
    // the record fast path and the SCTP send hook are really in place on both sides
    for (const pc of [a, b]) {
      expect((pc as any).dtlsTransports[0].dtls.__posternFast).toBe(true);
      expect((pc as any).sctpTransport.sctp.__posternSendWaiters).toBeDefined();
    }
    // sctp-path-mtu: both peers are ours and on one host (the loopback link): 16 KiB packets.
    expect(await Promise.all([startSctpPathMtuDiscovery(a, POSTERN_SCTP_MAX_PACKET), startSctpPathMtuDiscovery(b, POSTERN_SCTP_MAX_PACKET)])).toEqual([16384, 16384]);
    const data = randomBytes(8 * 1024 * 1024);
    const got = collect(answererChannel, data.length);
    const { lowEvents } = await sendPaced(offererChannel, data, 64 * 1024);
    const received = await got;
    expect(received.length).toBe(data.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
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

describe('interop: patched werift (this process) ↔ unpatched werift 0.24.4 (child process)', () => {
  let child: ChildProcess;
  const inbox: any[] = [];
  const pending = new Set<() => boolean>();
  const next = (type: string, timeoutMs = 60_000) =>
    new Promise<any>((resolve, reject) => {
      const check = () => {
        const i = inbox.findIndex((m) => m.type === type);
        if (i < 0) return false;
        clearTimeout(timer);
        resolve(inbox.splice(i, 1)[0]);
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
    child.on('message', (m) => {
      inbox.push(m);
      for (const check of [...pending]) if (check()) pending.delete(check);
    });
    await next('ready');
  });
  afterAll(() => {
    child?.send({ type: 'close' });
    setTimeout(() => child?.kill(), 2000).unref();
  });

  it('opens a channel, probes 16 KiB SCTP packets, and moves 8 MiB each way, byte-exact (patched sender and patched receiver)', async () => {
    const pc = peer(); // patched, the CLI's role: offerer
    const channel = pc.createDataChannel('tunnel', { ordered: true });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGatheringComplete(pc, 5000);
    child.send({ type: 'offer', sdp: pc.localDescription });
    const answer = await next('answer');
    await pc.setRemoteDescription(answer.sdp);
    await next('channel');
    await new Promise<void>((r) => (channel.readyState === 'open' ? r() : channel.stateChanged.subscribe((s) => s === 'open' && r())));
    // Stock werift echoes a 16 KiB probe and takes 16 KiB DATA chunks: what POSTERN_SCTP_MAX_PACKET
    // promises for every werift peer (a Postern gateway or CLI run with POSTERN_WERIFT_TUNING=off).
    expect(await startSctpPathMtuDiscovery(pc, POSTERN_SCTP_MAX_PACKET)).toBe(16384);

    // patched → unpatched
    const total = 8 * 1024 * 1024;
    const data = randomBytes(total);
    child.send({ type: 'expect', bytes: total });
    await sendPaced(channel, data, 64 * 1024);
    const report = await next('received', 90_000);
    expect(report.bytes).toBe(total);
    expect(report.sha256).toBe(createHash('sha256').update(data).digest('hex'));

    // unpatched → patched
    const got = collect(channel, total, 90_000);
    child.send({ type: 'send', bytes: total, seed: 3 });
    const received = await got;
    expect(received.equals(pattern(3, 0, total))).toBe(true);
  }, 180_000);
});
