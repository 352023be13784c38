/**
 * The composed relay (startRelay) on loopback: TURN over TCP and TLS end to end (a self-signed
 * certificate made with openssl for the test), the refusals the issue asks for over a stream
 * too, fuzzed TCP framing, a client that stops reading, the metrics endpoint, coturn's
 * turnutils_uclient over TCP, and IPv6 on ::1. No timing assertions: timeouts only turn a lost
 * answer into a failure instead of a hang.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../core/testing/prng.ts';
import { codecs, encodeAttribute, readAttribute, readAttributes } from '../../stun/attributes.ts';
import { buildChannelData } from '../../stun/channel-data.ts';
import { ADDRESS_FAMILY, METHOD, TRANSPORT } from '../../stun/constants.ts';
import { issueTurnCredentials } from '../../stun/credentials.ts';
import { buildStunMessage, newTransactionId } from '../../stun/message.ts';
import { startRelay, type Relay } from './relay-service.ts';
import { echoPeer, errorCode, TurnTestClient, type TestTransport } from './testing/turn-test-client.ts';
import { runUclient, UCLIENT } from './uclient.ts';
import { requireService } from '../../../test/support/services.ts';

const SECRET = 'service-test-secret-0123456789';
const REALM = 'relay.test';
const HAS_IPV6_LOOPBACK = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === '::1'));

function creds(userId = 'alice', ttl = 600, now = Date.now()) {
  return issueTurnCredentials(SECRET, userId, ttl, now);
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('relay service: TURN over TCP and TLS', () => {
  let dir: string;
  let ca: Buffer;
  let open: Relay; // allow-lists loopback, so tests can have local peers
  let strict: Relay; // the default policy
  const clients: TurnTestClient[] = [];
  const addr = (r: Relay, t: TestTransport) => {
    const l = r.listeners.find((x) => x.transport === t)!;
    return { address: l.address, port: l.port };
  };
  const client = async (r: Relay, t: TestTransport): Promise<TurnTestClient> => {
    const c = await TurnTestClient.open(t, addr(r, t), { ca });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-relay-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(join(dir, 'cert.pem'));
    const tls = { cert: ca, key: readFileSync(join(dir, 'key.pem')) };
    open = await startRelay({
      host: '127.0.0.1',
      udpPort: 0,
      tcpPort: 0,
      tlsPort: 0,
      tls,
      metricsPort: 0,
      realm: REALM,
      authSecret: SECRET,
      allow: ['127.0.0.1/32'],
      stream: { maxQueuedBytes: 64 * 1024, closeQueuedBytes: 64 * 1024 * 1024 },
    });
    strict = await startRelay({ host: '127.0.0.1', udpPort: 0, tcpPort: 0, realm: REALM, authSecret: SECRET });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await open?.close();
    await strict?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists its URLs per transport', () => {
    const [udp, tcp, tls] = open.listeners;
    expect(open.urls()).toEqual([
      `turn:127.0.0.1:${udp!.port}?transport=udp`,
      `turn:127.0.0.1:${tcp!.port}?transport=tcp`,
      `turns:127.0.0.1:${tls!.port}?transport=tcp`,
    ]);
  });

  for (const transport of ['tcp', 'tls'] as const) {
    it(`allocates, relays Send/Data and padded ChannelData both ways over ${transport}, and ends the allocation with the connection`, async () => {
      const peer = await echoPeer();
      try {
        const c = await client(open, transport);
        const { username, password } = creds(`${transport}-user`);
        const res = await c.allocate(username, password);
        expect(res.messageClass).toBe('success');
        expect(readAttribute(res, codecs.xorRelayedAddress)!.address).toBe('127.0.0.1');
        expect(readAttribute(res, codecs.xorMappedAddress)!.port).toBe(c.localPort);
        expect(open.server.metrics.allocationsByTransport[transport]).toBeGreaterThan(0);

        expect((await c.permission(peer.address)).messageClass).toBe('success');
        const payload = new Uint8Array([0, 1, 2, 250, 255, 0x40, 0x00]);
        c.sendIndication(peer.address, payload);
        const back = await c.nextData();
        expect(Buffer.from(back.data)).toEqual(Buffer.concat([Buffer.from('echo:'), Buffer.from(payload)]));

        expect((await c.channelBind(0x4001, peer.address)).messageClass).toBe('success');
        // Odd sizes exercise the TCP padding both ways; the last is near the ChannelData maximum.
        for (const size of [1, 3, 1001, 60_000]) {
          const data = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
          c.sendChannelData(0x4001, data);
          const cd = await c.nextChannelData();
          expect(cd.channel).toBe(0x4001);
          expect(Buffer.from(cd.data)).toEqual(Buffer.concat([Buffer.from('echo:'), Buffer.from(data)]));
        }
        const before = open.server.metrics.allocationsByTransport[transport];
        c.close();
        await eventually(() => open.server.metrics.allocationsByTransport[transport] === before - 1, 'the allocation to end with its connection');
      } finally {
        peer.close();
      }
    });
  }

  it('refuses unauthenticated, expired and wrongly signed requests over TCP with 401', async () => {
    const before = strict.server.metrics.authFailures;
    const c = await client(strict, 'tcp');
    expect(errorCode(await c.request(METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP)], false))).toBe(401);
    const expired = creds('alice', 1, Date.now() - 10_000);
    expect(errorCode(await (await client(strict, 'tcp')).allocate(expired.username, expired.password))).toBe(401);
    const good = creds();
    expect(errorCode(await (await client(strict, 'tcp')).allocate(good.username, 'not-the-password'))).toBe(401);
    expect(strict.server.metrics.authFailures).toBeGreaterThanOrEqual(before + 4);
  });

  it('refuses a loopback peer by default over TCP (403) and drops data to a peer without permission', async () => {
    const c = await client(strict, 'tcp');
    const { username, password } = creds('dave');
    expect((await c.allocate(username, password)).messageClass).toBe('success');
    expect(errorCode(await c.permission({ address: '127.0.0.1', port: 9 }))).toBe(403);
    // The IPv4-mapped form is an IPv6 peer for an IPv4 allocation: refused before the policy (443).
    expect(errorCode(await c.permission({ address: '::ffff:127.0.0.1', port: 9 }))).toBe(443);
    expect(errorCode(await c.channelBind(0x4001, { address: '169.254.169.254', port: 80 }))).toBe(403);

    const peer = await echoPeer();
    try {
      const o = await client(open, 'tcp');
      const u = creds('frank');
      expect((await o.allocate(u.username, u.password)).messageClass).toBe('success');
      const dropped = open.server.metrics.dropped.no_permission ?? 0;
      o.sendIndication(peer.address, new Uint8Array([1, 2, 3]));
      o.send(buildChannelData(0x4005, new Uint8Array([1]), 'tcp'));
      await o.request(METHOD.BINDING, [], false); // in order on the stream: handled by now
      expect(open.server.metrics.dropped.no_permission).toBe(dropped + 1);
      expect(peer.received).toEqual([]);
    } finally {
      peer.close();
    }
  });

  it('survives random and mutated TCP byte streams, closing only the connections that sent them', async () => {
    const rand = mulberry32(0x7c9);
    const byte = (): number => Math.floor(rand() * 256);
    const u = creds('fuzz');
    const tid = newTransactionId();
    const valid = [
      buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: newTransactionId(), attributes: [] }, { fingerprint: true }),
      buildStunMessage(
        {
          method: METHOD.ALLOCATE,
          messageClass: 'request',
          transactionId: tid,
          attributes: [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP), encodeAttribute(codecs.username, u.username)],
        },
        { fingerprint: true },
      ),
      buildChannelData(0x4001, new Uint8Array(37).map(byte), 'tcp'),
      buildStunMessage({
        method: METHOD.SEND,
        messageClass: 'indication',
        transactionId: tid,
        attributes: [encodeAttribute(codecs.xorPeerAddress, { address: '127.0.0.1', port: 9 }, tid), encodeAttribute(codecs.data, new Uint8Array(21))],
      }),
    ];
    const stream = (): Uint8Array => {
      const kind = Math.floor(rand() * 3);
      if (kind === 0) return new Uint8Array(1 + Math.floor(rand() * 3000)).map(byte);
      const parts: Uint8Array[] = [];
      for (let i = 0, n = 1 + Math.floor(rand() * 8); i < n; i++) parts.push(valid[Math.floor(rand() * valid.length)]!);
      const bytes = new Uint8Array(Buffer.concat(parts));
      if (kind === 1) for (let j = 0, n = 1 + Math.floor(rand() * 4); j < n; j++) bytes[Math.floor(rand() * bytes.length)] = byte();
      return rand() < 0.5 ? bytes.subarray(0, Math.floor(rand() * bytes.length)) : bytes;
    };
    const port = addr(open, 'tcp').port;
    const send = (bytes: Uint8Array): Promise<void> =>
      new Promise((resolve) => {
        const s: Socket = connect({ host: '127.0.0.1', port }, async () => {
          // In random pieces, so frames straddle reads.
          for (let at = 0; at < bytes.length && !s.destroyed; ) {
            const n = 1 + Math.floor(rand() * 700);
            s.write(bytes.subarray(at, at + n));
            at += n;
            if (rand() < 0.3) await new Promise((r) => setImmediate(r));
          }
          setTimeout(() => s.destroy(), 20);
        });
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.resume();
      });
    const before = open.metrics().listeners.find((l) => l.transport === 'tcp')!.closedMalformed ?? 0;
    for (let batch = 0; batch < 15; batch++) await Promise.all(Array.from({ length: 20 }, () => send(stream())));
    expect(open.metrics().listeners.find((l) => l.transport === 'tcp')!.closedMalformed).toBeGreaterThan(before + 50);
    // Still serving, on TCP and UDP.
    const c = await client(open, 'tcp');
    expect((await c.allocate(creds('after-fuzz').username, creds('after-fuzz').password)).messageClass).toBe('success');
    expect((await (await client(open, 'udp')).request(METHOD.BINDING, [], false)).messageClass).toBe('success');
    await eventually(() => (open.metrics().listeners.find((l) => l.transport === 'tcp')!.connections ?? 0) === 1, 'fuzz connections to close');
  });

  it('sheds relayed data to a TCP client that stops reading, and answers it again once it reads', async () => {
    const flood = createSocket('udp4');
    await new Promise<void>((r) => flood.bind(0, '127.0.0.1', () => r()));
    try {
      const c = await client(open, 'tcp');
      const u = creds('slow');
      const relayed = readAttribute(await c.allocate(u.username, u.password), codecs.xorRelayedAddress)!;
      expect((await c.permission({ address: '127.0.0.1', port: flood.address().port })).messageClass).toBe('success');
      c.pause();
      const before = open.server.metrics.dropped.client_backlog ?? 0;
      const datagram = new Uint8Array(60_000);
      // Kernel socket buffers take several MB first; then the relay's own queue (64 KiB here) fills and data is shed.
      for (let i = 0; i < 2000 && (open.server.metrics.dropped.client_backlog ?? 0) === before; i++) {
        flood.send(datagram, relayed.port, '127.0.0.1');
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
      }
      expect(open.server.metrics.dropped.client_backlog ?? 0).toBeGreaterThan(before);
      expect(c.isEnded).toBe(false);
      c.resume();
      expect((await c.request(METHOD.BINDING, [], false)).messageClass).toBe('success');
    } finally {
      flood.close();
    }
  });

  it('serves /metrics in Prometheus text and /healthz', async () => {
    const res = await fetch(`${open.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('postern_relay_up')).toBe(1);
    expect(value('postern_relay_listeners{transport="udp"}')).toBe(1);
    expect(value('postern_relay_listeners{transport="tcp"}')).toBe(1);
    expect(value('postern_relay_listeners{transport="tls"}')).toBe(1);
    expect(value('postern_relay_bytes_total{direction="client_to_peer"}')).toBeGreaterThan(60_000);
    expect(value('postern_relay_packets_total{direction="peer_to_client"}')).toBeGreaterThan(0);
    expect(value('postern_relay_dropped_total{reason="no_permission"}')).toBeGreaterThan(0);
    expect(value('postern_relay_dropped_total{reason="client_backlog"}')).toBeGreaterThan(0);
    expect(value('postern_relay_allocations{transport="tcp"}')).toBeGreaterThanOrEqual(0);
    expect(value('postern_relay_stream_closed_total{transport="tcp",reason="malformed"}')).toBeGreaterThan(0);
    expect(value('postern_relay_relayed_sockets{family="ipv4"}')).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/^# TYPE postern_relay_auth_failures_total counter$/m);
    expect(text).not.toContain(SECRET);
    expect(await (await fetch(`${open.metricsUrl}/healthz`)).text()).toBe('ok\n');
    expect((await fetch(`${open.metricsUrl}/other`)).status).toBe(404);
    expect((await fetch(`${open.metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  // -t: TCP to the server. -s: Send indications (uclient's channel numbers, e.g. 0x542A, are
  // outside RFC 8656's 0x4000–0x4FFF, which we refuse with 400). -c: no RTCP pair. -y: client
  // to client through two relayed 127.0.0.1 addresses, so against the loopback-allowing relay.
  const uclientTest = UCLIENT
    ? 'relays turnutils_uclient -t (TURN over TCP) without loss'
    : 'relays turnutils_uclient -t (skipped: turnutils_uclient is not installed; it is in the Debian package coturn)';
  it.skipIf(!requireService("coturn's turnutils_uclient", 'POSTERN_TEST_UCLIENT', UCLIENT))(
    uclientTest,
    async () => {
      const { username, password } = creds('uclient-tcp');
      const args = [
        '-t',
        '-s',
        '-c',
        '-y',
        '-u',
        username,
        '-w',
        password,
        '-n',
        '20',
        '-l',
        '500',
        '-m',
        '2',
        '-p',
        String(addr(open, 'tcp').port),
        '127.0.0.1',
      ];
      const run = await runUclient(args);
      expect(run.lost, run.output).toBe(0);
      expect(run.sent, run.output).toBeGreaterThan(0);
      expect(run.received, run.output).toBe(run.sent);
    },
    90_000,
  );
});

describe('relay service: IPv6', () => {
  const title = HAS_IPV6_LOOPBACK
    ? 'relays on udp6 from ::1, and makes dual-stack allocations'
    : 'relays on udp6 (skipped: this machine has no IPv6 loopback ::1)';
  it.skipIf(!HAS_IPV6_LOOPBACK)(title, async () => {
    const relay = await startRelay({
      host: '::1',
      udpPort: 0,
      tcpPort: 0,
      relayIps: { ipv4: '127.0.0.1', ipv6: '::1' },
      realm: REALM,
      authSecret: SECRET,
      allow: ['::1/128', '127.0.0.1/32'],
    });
    const peer6 = await echoPeer('::1');
    const peer4 = await echoPeer('127.0.0.1');
    const clients: TurnTestClient[] = [];
    try {
      expect(relay.urls()[0]).toMatch(/^turn:\[::1\]:\d+\?transport=udp$/);
      const at = (t: 'udp' | 'tcp') => ({ address: '::1', port: relay.listeners.find((l) => l.transport === t)!.port });
      // IPv6 only, over UDP on ::1.
      const c = await TurnTestClient.open('udp', at('udp'));
      clients.push(c);
      const u = creds('v6');
      const res = await c.allocate(u.username, u.password, [encodeAttribute(codecs.requestedAddressFamily, ADDRESS_FAMILY.IPV6)]);
      expect(readAttributes(res, codecs.xorRelayedAddress).map((a) => [a.family, a.address])).toEqual([['ipv6', '::1']]);
      expect(readAttribute(res, codecs.xorMappedAddress)).toMatchObject({ family: 'ipv6', address: '::1' });
      expect((await c.permission(peer6.address)).messageClass).toBe('success');
      expect(errorCode(await c.permission(peer4.address))).toBe(443);
      c.sendIndication(peer6.address, new Uint8Array([6, 6]));
      expect(Buffer.from((await c.nextData()).data).toString('latin1')).toBe('echo:\x06\x06');
      // Dual-stack, over TCP on ::1: one relayed address per family, each peer on its own.
      const d = await TurnTestClient.open('tcp', at('tcp'));
      clients.push(d);
      const dual = await d.allocate(u.username, u.password, [encodeAttribute(codecs.additionalAddressFamily, ADDRESS_FAMILY.IPV6)]);
      expect(readAttributes(dual, codecs.xorRelayedAddress).map((a) => a.address)).toEqual(['127.0.0.1', '::1']);
      expect((await d.channelBind(0x4001, peer4.address)).messageClass).toBe('success');
      expect((await d.channelBind(0x4002, peer6.address)).messageClass).toBe('success');
      d.sendChannelData(0x4002, new Uint8Array([2]));
      expect(await d.nextChannelData()).toMatchObject({ channel: 0x4002 });
      d.sendChannelData(0x4001, new Uint8Array([1]));
      expect(await d.nextChannelData()).toMatchObject({ channel: 0x4001 });
      expect(relay.server.metrics.relayedSockets).toEqual({ ipv4: 1, ipv6: 2 });
    } finally {
      for (const c of clients) c.close();
      peer6.close();
      peer4.close();
      await relay.close();
    }
  });

  it('refuses IPv6 allocations with 440 when it has no IPv6 relay address', async () => {
    const relay = await startRelay({ host: '127.0.0.1', udpPort: 0, realm: REALM, authSecret: SECRET });
    const c = await TurnTestClient.open('udp', { address: '127.0.0.1', port: relay.listeners[0]!.port });
    try {
      const u = creds('v4only');
      expect(errorCode(await c.allocate(u.username, u.password, [encodeAttribute(codecs.requestedAddressFamily, ADDRESS_FAMILY.IPV6)]))).toBe(440);
    } finally {
      c.close();
      await relay.close();
    }
  });

  it('refuses options that cannot work, with a typed error', async () => {
    await expect(startRelay({ host: '127.0.0.1', udpPort: 0, realm: REALM, authSecret: 'short' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(startRelay({ host: '0.0.0.0', udpPort: 0, realm: REALM, authSecret: SECRET })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(startRelay({ host: '127.0.0.1', udpPort: 0, tlsPort: 0, realm: REALM, authSecret: SECRET })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
