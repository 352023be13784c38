/**
 * The TURN server end to end over real UDP sockets on loopback: the relay's test client
 * (TurnTestClient, built from the codec) talks to startUdpTurnServer, and a UDP echo socket
 * plays the peer. No timing
 * assertions: timeouts only turn a lost answer into a failure instead of a hang.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/testing/prng.ts';
import { echoPeer, errorCode, TurnTestClient } from '../adapters/node/testing/turn-test-client.ts';
import { startUdpTurnServer, type UdpTurnServer } from '../adapters/node/udp-turn.ts';
import { runUclient, UCLIENT } from '../adapters/node/uclient.ts';
import { requireService } from '../../test/support/services.ts';
import { peerPolicy } from '../policy/peer-address.ts';
import { codecs, encodeAttribute, readAttribute, type TransportAddressInput } from '../stun/attributes.ts';
import { ATTR, METHOD, TRANSPORT } from '../stun/constants.ts';
import { issueTurnCredentials } from '../stun/credentials.ts';
import { buildStunMessage, newTransactionId, verifyMessageIntegrity, type StunMessage } from '../stun/message.ts';

const SECRET = 'test-shared-secret-0123456789';
const REALM = 'relay.test';

/**
 * TurnTestClient.allocate, checking too that the first, unauthenticated Allocate was challenged
 * with 401: the client takes a key only from a 401.
 */
async function allocate(c: TurnTestClient, username: string, password: string): Promise<StunMessage> {
  const res = await c.allocate(username, password);
  expect(c.key, 'the unauthenticated Allocate was not challenged with 401').toBeDefined();
  return res;
}

function creds(userId = 'alice', ttl = 600, now = Date.now()) {
  return issueTurnCredentials(SECRET, userId, ttl, now);
}

describe('TURN server over UDP', () => {
  let turn: UdpTurnServer;
  let open: UdpTurnServer;
  const clients: TurnTestClient[] = [];
  const client = async (server: TransportAddressInput): Promise<TurnTestClient> => {
    const c = await TurnTestClient.open('udp', server);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    turn = await startUdpTurnServer({ port: 0, realm: REALM, authSecret: SECRET, peerPolicy: peerPolicy(), limits: { maxAllocationsPerUser: 2 } });
    open = await startUdpTurnServer({ port: 0, realm: REALM, authSecret: SECRET, peerPolicy: peerPolicy(['127.0.0.1/32']) });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await turn.close();
    await open.close();
  });

  it('answers Binding with the XOR-MAPPED-ADDRESS', async () => {
    const c = await client(turn.address);
    const res = await c.request(METHOD.BINDING, [], false);
    expect(res.messageClass).toBe('success');
    expect(readAttribute(res, codecs.xorMappedAddress)).toEqual({ family: 'ipv4', address: '127.0.0.1', port: c.localPort });
  });

  it('challenges an unauthenticated Allocate with 401, REALM and NONCE', async () => {
    const c = await client(turn.address);
    const res = await c.request(METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP)], false);
    expect(errorCode(res)).toBe(401);
    expect(readAttribute(res, codecs.realm)).toBe(REALM);
    expect(readAttribute(res, codecs.nonce)).toMatch(/^[0-9]+\.[0-9a-f]{32}$/);
  });

  it('refuses an expired REST username and a wrong password with 401', async () => {
    const before = turn.server.metrics.authFailures;
    const expired = creds('alice', 1, Date.now() - 10_000);
    expect(errorCode(await allocate(await client(turn.address), expired.username, expired.password))).toBe(401);
    const good = creds();
    expect(errorCode(await allocate(await client(turn.address), good.username, 'not-the-password'))).toBe(401);
    expect(turn.server.metrics.authFailures).toBeGreaterThanOrEqual(before + 4);
  });

  it('answers a forged nonce with 438', async () => {
    const c = await client(turn.address);
    const good = creds();
    await allocate(c, good.username, good.password).then(() => undefined);
    c.nonce = `${Math.floor(Date.now() / 1000) + 100}.${'0'.repeat(32)}`;
    const res = await c.request(METHOD.REFRESH, []);
    expect(errorCode(res)).toBe(438);
  });

  it('allocates with correct credentials, refuses a second Allocate (437) and enforces the quota (486)', async () => {
    const { username, password } = creds('bob');
    const c1 = await client(turn.address);
    const res = await allocate(c1, username, password);
    expect(res.messageClass).toBe('success');
    expect(verifyMessageIntegrity(res, c1.key!)).toBe(true);
    const relayed = readAttribute(res, codecs.xorRelayedAddress)!;
    expect(relayed.address).toBe('127.0.0.1');
    expect(relayed.port).toBeGreaterThan(0);
    expect(readAttribute(res, codecs.lifetime)).toBe(600);
    expect(readAttribute(res, codecs.xorMappedAddress)?.port).toBe(c1.localPort);

    const again = await c1.request(METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP)]);
    expect(errorCode(again)).toBe(437);

    expect((await allocate(await client(turn.address), username, password)).messageClass).toBe('success');
    expect(errorCode(await allocate(await client(turn.address), username, password))).toBe(486);
  });

  it('answers 442 for TCP and 420 for unknown comprehension-required attributes', async () => {
    const c = await client(turn.address);
    const { username, password } = creds('carol');
    await allocate(c, username, password).catch(() => undefined);
    const c2 = await client(turn.address);
    c2.key = c.key;
    c2.username = c.username;
    c2.realm = c.realm;
    c2.nonce = c.nonce;
    expect(errorCode(await c2.request(METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.TCP)]))).toBe(442);
    const unknown = await c2.request(METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP), { type: 0x7f01, value: new Uint8Array(4) }]);
    expect(errorCode(unknown)).toBe(420);
    expect(readAttribute(unknown, codecs.unknownAttributes)).toEqual([0x7f01]);
    // EVEN-PORT: an even relayed port; with the R bit (reserve the next one, unsupported) 508.
    const udp = encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP);
    expect(errorCode(await c2.request(METHOD.ALLOCATE, [udp, encodeAttribute(codecs.evenPort, { reserveNextPort: true })]))).toBe(508);
    const even = await c2.request(METHOD.ALLOCATE, [udp, encodeAttribute(codecs.evenPort, { reserveNextPort: false })]);
    expect(even.messageClass).toBe('success');
    expect(readAttribute(even, codecs.xorRelayedAddress)!.port % 2).toBe(0);
  });

  it('refuses a loopback peer by default (403)', async () => {
    const c = await client(turn.address);
    const { username, password } = creds('dave');
    expect((await allocate(c, username, password)).messageClass).toBe('success');
    expect(errorCode(await c.permission({ address: '127.0.0.1', port: 9 }))).toBe(403);
    expect(turn.server.metrics.allocations).toBeGreaterThan(0);
  });

  it('relays Send indications to an allow-listed peer and its answers back as Data indications', async () => {
    const peer = await echoPeer();
    try {
      const c = await client(open.address);
      const { username, password } = creds('erin');
      const res = await allocate(c, username, password);
      expect(res.messageClass).toBe('success');
      const relayed = readAttribute(res, codecs.xorRelayedAddress)!;

      expect((await c.permission(peer.address)).messageClass).toBe('success');
      const payload = new Uint8Array([0, 1, 2, 250, 255, 0x40, 0x00]);
      c.sendIndication(peer.address, payload);
      const back = await c.nextData();
      expect(back.peer).toEqual({ family: 'ipv4', ...peer.address });
      expect(Buffer.from(back.data)).toEqual(Buffer.concat([Buffer.from('echo:'), Buffer.from(payload)]));
      expect(Buffer.from(peer.received[0]!)).toEqual(Buffer.from(payload));

      // The peer saw the relayed address, not the client's.
      expect(relayed.port).not.toBe(c.localPort);

      // ChannelBind, then ChannelData both ways, byte for byte.
      const bind = await c.channelBind(0x4001, peer.address);
      expect(bind.messageClass).toBe('success');
      const data = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
      c.sendChannelData(0x4001, data);
      const cd = await c.nextChannelData();
      expect(cd.channel).toBe(0x4001);
      expect(Buffer.from(cd.data)).toEqual(Buffer.concat([Buffer.from('echo:'), Buffer.from(data)]));
      expect(Buffer.from(peer.received[1]!)).toEqual(Buffer.from(data));

      // Bad channel numbers and conflicting bindings are 400.
      // (0x3FFF by hand: the codec will not encode a number outside 0x4000–0x4FFF.)
      const below = await c.request(METHOD.CHANNEL_BIND, (txid) => [
        { type: ATTR.CHANNEL_NUMBER, value: new Uint8Array([0x3f, 0xff, 0, 0]) },
        encodeAttribute(codecs.xorPeerAddress, peer.address, txid),
      ]);
      expect(errorCode(below)).toBe(400);
      expect(errorCode(await c.channelBind(0x4002, peer.address))).toBe(400);

      const m = open.server.metrics;
      expect(m.bytesClientToPeer).toBeGreaterThanOrEqual(payload.length + data.length);
      expect(m.bytesPeerToClient).toBeGreaterThanOrEqual(payload.length + data.length + 10);

      // Refresh with LIFETIME 0 removes the allocation; its 5-tuple then has none (437).
      const before = open.server.metrics.allocations;
      const refresh = await c.request(METHOD.REFRESH, [encodeAttribute(codecs.lifetime, 0)]);
      expect(refresh.messageClass).toBe('success');
      expect(open.server.metrics.allocations).toBe(before - 1);
      expect(errorCode(await c.request(METHOD.REFRESH, []))).toBe(437);
    } finally {
      peer.close();
    }
  });

  it('drops Send indications to peers without a permission', async () => {
    const peer = await echoPeer();
    try {
      const c = await client(open.address);
      const { username, password } = creds('frank');
      expect((await allocate(c, username, password)).messageClass).toBe('success');
      const before = open.server.metrics.dropped.no_permission ?? 0;
      c.sendIndication(peer.address, new Uint8Array([1, 2, 3]));
      // A Binding round trip after it: the server has handled the indication by then.
      await c.request(METHOD.BINDING, [], false);
      expect(open.server.metrics.dropped.no_permission).toBe(before + 1);
      expect(peer.received).toEqual([]);
    } finally {
      peer.close();
    }
  });

  it('hands a packet for another allocation’s relayed address straight to it (hairpin), with that allocation’s permissions', async () => {
    const a = await client(open.address);
    const b = await client(open.address);
    const ra = readAttribute(await allocate(a, creds('gina').username, creds('gina').password), codecs.xorRelayedAddress)!;
    const rb = readAttribute(await allocate(b, creds('hank').username, creds('hank').password), codecs.xorRelayedAddress)!;
    const A = { address: ra.address, port: ra.port };
    const B = { address: rb.address, port: rb.port };
    expect((await a.permission(B)).messageClass).toBe('success');

    // B has no permission for A yet: B's allocation drops it, as it would a datagram on its socket.
    const dropsBefore = open.server.metrics.dropped.no_permission ?? 0;
    a.sendIndication(B, new Uint8Array([9, 9, 9]));
    await a.request(METHOD.BINDING, [], false);
    expect(open.server.metrics.dropped.no_permission).toBe(dropsBefore + 1);

    expect((await b.permission(A)).messageClass).toBe('success');
    const hairpinBefore = open.server.metrics.packetsHairpinned;
    const payload = new Uint8Array(1200).map((_, i) => (i * 13) & 0xff);
    a.sendIndication(B, payload);
    const atB = await b.nextData();
    expect(atB.peer).toEqual({ family: 'ipv4', ...A }); // from A's relayed address, as over the wire
    expect(Buffer.from(atB.data)).toEqual(Buffer.from(payload));

    // And back through channels both ways.
    expect((await b.channelBind(0x4010, A)).messageClass).toBe('success');
    expect((await a.channelBind(0x4011, B)).messageClass).toBe('success');
    b.sendChannelData(0x4010, new Uint8Array([1, 2, 3, 4]));
    const atA = await a.nextChannelData();
    expect([atA.channel, [...atA.data]]).toEqual([0x4011, [1, 2, 3, 4]]);
    expect(open.server.metrics.packetsHairpinned).toBe(hairpinBefore + 2);
  });

  // -s: Send/Data indications. Without it uclient binds channels from the RFC 5766 range
  // (0x4000–0x7FFE, e.g. 0x542A), which RFC 8656 narrowed to 0x4000–0x4FFF, and we answer 400.
  // -c: no RTCP allocation pair. -y: two clients relay to each other's 127.0.0.1 relayed
  // addresses, so this runs against the server that allow-lists loopback.
  const uclientTest = UCLIENT
    ? 'relays turnutils_uclient traffic without loss'
    : 'relays turnutils_uclient traffic (skipped: turnutils_uclient is not installed; it is in the Debian package coturn)';
  it.skipIf(!requireService("coturn's turnutils_uclient", 'POSTERN_TEST_UCLIENT', UCLIENT))(
    uclientTest,
    async () => {
      const peer = await echoPeer();
      try {
        const { username, password } = creds('uclient');
        const args = [
          '-s',
          '-c',
          '-y',
          '-u',
          username,
          '-w',
          password,
          '-n',
          '10',
          '-l',
          '100',
          '-e',
          '127.0.0.1',
          '-r',
          String(peer.address.port),
          '-p',
          String(open.address.port),
          '127.0.0.1',
        ];
        const run = await runUclient(args);
        expect(run.lost, run.output).toBe(0);
        expect(run.sent, run.output).toBeGreaterThan(0);
        expect(run.received, run.output).toBe(run.sent);
      } finally {
        peer.close();
      }
    },
    90_000,
  );

  it('drops thousands of malformed and random datagrams and keeps answering', async () => {
    const c = await client(turn.address);
    const rand = mulberry32(0x7e57);
    const byte = (): number => Math.floor(rand() * 256);
    const valid = buildStunMessage(
      { method: METHOD.BINDING, messageClass: 'request', transactionId: newTransactionId(), attributes: [encodeAttribute(codecs.software, 'x')] },
      { fingerprint: true },
    );
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      const kind = i % 3;
      if (kind === 0) {
        bytes = new Uint8Array(Math.floor(rand() * 200)).map(byte);
      } else if (kind === 1) {
        // A valid message with a few bytes flipped and maybe truncated.
        bytes = valid.slice(0, Math.max(1, Math.floor(rand() * valid.length) + (rand() < 0.5 ? valid.length : 0)));
        for (let j = 0; j < 3; j++) bytes[Math.floor(rand() * bytes.length)] = byte();
      } else {
        // ChannelData-looking garbage (first bits 01) from a 5-tuple without an allocation.
        bytes = new Uint8Array(4 + Math.floor(rand() * 60)).map(byte);
        bytes[0] = 0x40 | (bytes[0]! & 0x3f);
      }
      c.send(bytes);
      if (i % 200 === 199) await c.request(METHOD.BINDING, [], false);
    }
    const res = await c.request(METHOD.BINDING, [], false);
    expect(res.messageClass).toBe('success');
    const dropped = turn.server.metrics.dropped;
    expect((dropped.malformed ?? 0) + (dropped.no_allocation ?? 0)).toBeGreaterThan(1000);
  });
});
