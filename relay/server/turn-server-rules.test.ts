/**
 * RFC 8656 rules of the TurnServer checked in-process, with fake relayed sockets and an injected
 * clock (so a 5-minute quarantine takes no time): address families (§7.2), channel re-binding
 * and the quarantine after expiry (§12), stream 5-tuples (§3.1, padding §12.5) and back-pressure.
 */
import { describe, expect, it } from 'vitest';
import { peerPolicy } from '../policy/peer-address.ts';
import { codecs, encodeAttribute, readAttribute, readAttributes, type TransportAddressInput } from '../stun/attributes.ts';
import { buildChannelData, parseChannelData } from '../stun/channel-data.ts';
import { ADDRESS_FAMILY, ATTR, METHOD, TRANSPORT } from '../stun/constants.ts';
import { issueTurnCredentials, longTermKey } from '../stun/credentials.ts';
import { buildStunMessage, isStunMessage, newTransactionId, parseStunMessage, type StunAttributeInput, type StunMessage } from '../stun/message.ts';
import { TurnServer, type ClientTransport, type FiveTuple, type RelayFamily, type Reply } from './turn-server.ts';

const SECRET = 'rules-test-secret-0123456789';
const REALM = 'rules.test';
const T0 = 1_800_000_000_000;

interface FakeSocket {
  family: RelayFamily;
  address: TransportAddressInput;
  sent: { bytes: Uint8Array; peer: TransportAddressInput }[];
  deliver: (bytes: Uint8Array, from: TransportAddressInput) => void;
  closed: boolean;
}

function setup(
  families: RelayFamily[] = ['ipv4'],
  allow = ['0.0.0.0/0', '::/0'],
  gate?: Promise<void>,
  host: { relayIpv4?: string; ownAddresses?: string[] } = {},
) {
  let now = T0;
  const sockets: FakeSocket[] = [];
  let port = 50000;
  const server = new TurnServer({
    realm: REALM,
    authSecret: SECRET,
    peerPolicy: peerPolicy(allow),
    relayFamilies: families,
    ownAddresses: host.ownAddresses,
    now: () => now,
    relaySockets: async (onPacket, family) => {
      await gate;
      const s: FakeSocket = {
        family,
        address: { address: family === 'ipv4' ? (host.relayIpv4 ?? '192.0.2.1') : '2001:db8::1', port: port++ },
        sent: [],
        deliver: onPacket,
        closed: false,
      };
      sockets.push(s);
      return {
        address: s.address,
        send: (bytes, peer) => s.sent.push({ bytes: bytes.slice(), peer }),
        close: () => {
          s.closed = true;
        },
      };
    },
  });
  return { server, sockets, advance: (ms: number) => (now += ms), now: () => now };
}

/** One client 5-tuple talking to the server in-process. */
class Peerless {
  readonly out: { bytes: Uint8Array; kind: string }[] = [];
  key: Uint8Array | undefined;
  username = '';
  nonce = '';
  accept = true;
  readonly tuple: FiveTuple;
  readonly reply: Reply = (bytes, kind) => {
    if (!this.accept && kind === 'data') return false;
    this.out.push({ bytes: bytes.slice(), kind });
    return true;
  };
  constructor(
    readonly server: TurnServer,
    transport: ClientTransport = 'udp',
    port = 40000 + Math.floor(Math.random() * 20000),
  ) {
    this.tuple = { client: { address: '198.51.100.9', port }, transport, serverPort: 3478 };
  }

  async request(method: number, attrs: StunAttributeInput[] | ((tid: Uint8Array) => StunAttributeInput[]), sign = true): Promise<StunMessage> {
    const transactionId = newTransactionId();
    const attributes = typeof attrs === 'function' ? attrs(transactionId) : attrs;
    const auth: StunAttributeInput[] =
      sign && this.key
        ? [encodeAttribute(codecs.username, this.username), encodeAttribute(codecs.realm, REALM), encodeAttribute(codecs.nonce, this.nonce)]
        : [];
    const before = this.out.length;
    await this.server.handleClientPacket(
      this.tuple,
      buildStunMessage({ method, messageClass: 'request', transactionId, attributes: [...attributes, ...auth] }, { integrityKey: sign ? this.key : undefined }),
      this.reply,
    );
    const answer = this.out.slice(before).find((o) => isStunMessage(o.bytes));
    if (!answer) throw new Error('no answer');
    return parseStunMessage(answer.bytes);
  }

  async allocate(extra: StunAttributeInput[] = [], now = T0): Promise<StunMessage> {
    const { username, password } = issueTurnCredentials(SECRET, 'u1', 3600, now);
    const udp = encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP);
    const first = await this.request(METHOD.ALLOCATE, [udp, ...extra], false);
    this.nonce = readAttribute(first, codecs.nonce)!;
    this.username = username;
    this.key = longTermKey(username, REALM, password);
    return this.request(METHOD.ALLOCATE, [udp, ...extra]);
  }

  bind(channel: number, peer: TransportAddressInput): Promise<StunMessage> {
    return this.request(METHOD.CHANNEL_BIND, (tid) => [encodeAttribute(codecs.channelNumber, channel), encodeAttribute(codecs.xorPeerAddress, peer, tid)]);
  }

  permit(peer: TransportAddressInput): Promise<StunMessage> {
    return this.request(METHOD.CREATE_PERMISSION, (tid) => [encodeAttribute(codecs.xorPeerAddress, peer, tid)]);
  }
}

const code = (m: StunMessage): number | undefined => (m.messageClass === 'error' ? readAttribute(m, codecs.errorCode)?.code : 0);
const PEER_A = { address: '203.0.113.10', port: 5000 };
const PEER_B = { address: '203.0.113.11', port: 5000 };
const family = (n: number) => encodeAttribute(codecs.requestedAddressFamily, n);
const additional = (n: number) => encodeAttribute(codecs.additionalAddressFamily, n);

describe('TurnServer: channels (RFC 8656 §12)', () => {
  it('refuses re-binding a channel to another peer, or a peer to another channel, while bound', async () => {
    const { server } = setup();
    const c = new Peerless(server);
    expect(code(await c.allocate())).toBe(0);
    expect(code(await c.bind(0x4001, PEER_A))).toBe(0);
    expect(code(await c.bind(0x4001, PEER_A))).toBe(0); // refresh: same number, same peer
    expect(code(await c.bind(0x4001, PEER_B))).toBe(400);
    expect(code(await c.bind(0x4002, PEER_A))).toBe(400);
    expect(code(await c.bind(0x4002, PEER_B))).toBe(0);
    // 0x5000+ is reserved in RFC 8656 (coturn's uclient still asks for e.g. 0x542A).
    const reserved = await c.request(METHOD.CHANNEL_BIND, (tid) => [
      { type: ATTR.CHANNEL_NUMBER, value: new Uint8Array([0x54, 0x2a, 0, 0]) },
      encodeAttribute(codecs.xorPeerAddress, PEER_B, tid),
    ]);
    expect(code(reserved)).toBe(400);
  });

  it('quarantines an expired channel for 5 minutes: same peer again is fine, another peer only after', async () => {
    const { server, sockets, advance } = setup();
    const c = new Peerless(server);
    await c.allocate();
    expect(code(await c.bind(0x4001, PEER_A))).toBe(0);
    // Keep the allocation alive; let the channel (10 min) expire.
    advance(601_000);
    expect(code(await c.request(METHOD.REFRESH, [encodeAttribute(codecs.lifetime, 3600)]))).toBe(0);
    server.sweep();
    // Expired: ChannelData on it is dropped, peer data comes back as a Data indication.
    const before = server.metrics.dropped.unbound_channel ?? 0;
    await server.handleClientPacket(c.tuple, buildChannelData(0x4001, new Uint8Array([1])), c.reply);
    expect(server.metrics.dropped.unbound_channel).toBe(before + 1);
    expect(code(await c.permit(PEER_A))).toBe(0);
    c.out.length = 0;
    sockets[0]!.deliver(new Uint8Array([9]), PEER_A);
    expect(parseStunMessage(c.out[0]!.bytes).method).toBe(METHOD.DATA);
    // Quarantined: neither the number nor the peer may go elsewhere …
    expect(code(await c.bind(0x4001, PEER_B))).toBe(400);
    expect(code(await c.bind(0x4003, PEER_A))).toBe(400);
    // … until 5 minutes after the expiry.
    advance(298_000);
    server.sweep();
    expect(code(await c.bind(0x4001, PEER_B))).toBe(400);
    advance(3_000);
    server.sweep();
    expect(code(await c.bind(0x4001, PEER_B))).toBe(0);
    expect(code(await c.bind(0x4003, PEER_A))).toBe(0);
  });

  it('lets an expired channel be bound again to the same peer during its quarantine', async () => {
    const { server, advance } = setup();
    const c = new Peerless(server);
    await c.allocate();
    expect(code(await c.bind(0x4001, PEER_A))).toBe(0);
    advance(601_000);
    await c.request(METHOD.REFRESH, [encodeAttribute(codecs.lifetime, 3600)]);
    server.sweep();
    expect(code(await c.bind(0x4001, PEER_A))).toBe(0);
    c.out.length = 0;
    await server.handleClientPacket(c.tuple, buildChannelData(0x4001, new Uint8Array([1, 2])), c.reply);
    expect(server.metrics.packetsClientToPeer).toBe(1);
  });
});

describe('TurnServer: address families (RFC 8656 §7.2)', () => {
  it('gives IPv4 by default and 440 for IPv6 when it has no IPv6 relay address', async () => {
    const { server } = setup(['ipv4']);
    const c = new Peerless(server);
    const res = await c.allocate([family(ADDRESS_FAMILY.IPV6)]);
    expect(code(res)).toBe(440);
    expect(code(await new Peerless(server).allocate([family(0x03)]))).toBe(440);
    const v4 = await new Peerless(server).allocate();
    expect(readAttributes(v4, codecs.xorRelayedAddress).map((a) => a.family)).toEqual(['ipv4']);
  });

  it('allocates IPv6 on request, and 440 for IPv4 on an IPv6-only relay', async () => {
    const { server } = setup(['ipv6']);
    const res = await new Peerless(server).allocate([family(ADDRESS_FAMILY.IPV6)]);
    expect(readAttributes(res, codecs.xorRelayedAddress)).toEqual([{ family: 'ipv6', address: '2001:db8::1', port: 50000 }]);
    expect(code(await new Peerless(server).allocate())).toBe(440);
  });

  it('makes dual allocations with ADDITIONAL-ADDRESS-FAMILY and relays each peer on its own family', async () => {
    const { server, sockets } = setup(['ipv4', 'ipv6']);
    const c = new Peerless(server);
    const res = await c.allocate([additional(ADDRESS_FAMILY.IPV6)]);
    expect(readAttributes(res, codecs.xorRelayedAddress).map((a) => a.family)).toEqual(['ipv4', 'ipv6']);
    expect(readAttribute(res, codecs.addressErrorCode)).toBeUndefined();
    expect(server.metrics.relayedSockets).toEqual({ ipv4: 1, ipv6: 1 });
    const v6peer = { address: '2001:db8:1::5', port: 7000 };
    expect(code(await c.permit(v6peer))).toBe(0);
    expect(code(await c.permit(PEER_A))).toBe(0);
    const tid = newTransactionId();
    await server.handleClientPacket(
      c.tuple,
      buildStunMessage({
        method: METHOD.SEND,
        messageClass: 'indication',
        transactionId: tid,
        attributes: [encodeAttribute(codecs.xorPeerAddress, v6peer, tid), { type: ATTR.DATA, value: new Uint8Array([6]) }],
      }),
      c.reply,
    );
    expect(sockets.find((s) => s.family === 'ipv6')!.sent).toHaveLength(1);
    expect(sockets.find((s) => s.family === 'ipv4')!.sent).toHaveLength(0);
    // Refresh naming a family it has is fine; LIFETIME 0 ends both.
    expect(code(await c.request(METHOD.REFRESH, [family(ADDRESS_FAMILY.IPV6), encodeAttribute(codecs.lifetime, 0)]))).toBe(0);
    expect(sockets.every((s) => s.closed)).toBe(true);
  });

  it('answers a dual request on an IPv4-only relay with IPv4 and ADDRESS-ERROR-CODE 440 for IPv6', async () => {
    const { server } = setup(['ipv4']);
    const res = await new Peerless(server).allocate([additional(ADDRESS_FAMILY.IPV6)]);
    expect(code(res)).toBe(0);
    expect(readAttributes(res, codecs.xorRelayedAddress).map((a) => a.family)).toEqual(['ipv4']);
    expect(readAttribute(res, codecs.addressErrorCode)).toMatchObject({ family: ADDRESS_FAMILY.IPV6, code: 440 });
  });

  it('refuses both family attributes together, and ADDITIONAL-ADDRESS-FAMILY other than IPv6 (400)', async () => {
    const { server } = setup(['ipv4', 'ipv6']);
    expect(code(await new Peerless(server).allocate([family(ADDRESS_FAMILY.IPV4), additional(ADDRESS_FAMILY.IPV6)]))).toBe(400);
    expect(code(await new Peerless(server).allocate([additional(ADDRESS_FAMILY.IPV4)]))).toBe(400);
  });

  it('answers 443 for a peer or a Refresh of a family the allocation does not have', async () => {
    const { server } = setup(['ipv4', 'ipv6']);
    const c = new Peerless(server);
    await c.allocate();
    expect(code(await c.permit({ address: '2001:db8:1::5', port: 1 }))).toBe(443);
    expect(code(await c.bind(0x4001, { address: '2001:db8:1::5', port: 1 }))).toBe(443);
    expect(code(await c.request(METHOD.REFRESH, [family(ADDRESS_FAMILY.IPV6)]))).toBe(443);
  });
});

describe('TurnServer: stream 5-tuples (RFC 8656 §3.1)', () => {
  it('pads ChannelData to a stream client, keeps transports apart, and ends the allocation with the connection', async () => {
    const { server, sockets } = setup();
    const tcp = new Peerless(server, 'tcp', 41000);
    const udp = new Peerless(server, 'udp', 41000); // same address and port, other transport: another 5-tuple
    expect(code(await tcp.allocate())).toBe(0);
    expect(code(await udp.allocate())).toBe(0);
    expect(server.metrics.allocationsByTransport).toEqual({ udp: 1, tcp: 1, tls: 0 });
    expect(code(await tcp.bind(0x4001, PEER_A))).toBe(0);
    tcp.out.length = 0;
    sockets[0]!.deliver(new Uint8Array([1, 2, 3, 4, 5]), PEER_A);
    const frame = tcp.out[0]!.bytes;
    expect(frame.length).toBe(12); // 4 header + 5 data + 3 padding
    expect(parseChannelData(frame, 'tcp').data).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    // Padded ChannelData from the client is accepted.
    await server.handleClientPacket(tcp.tuple, buildChannelData(0x4001, new Uint8Array([7]), 'tcp'), tcp.reply);
    expect(sockets[0]!.sent.at(-1)!.bytes).toEqual(new Uint8Array([7]));
    server.closeTuple(tcp.tuple);
    expect(sockets[0]!.closed).toBe(true);
    expect(server.metrics.allocationsByTransport).toEqual({ udp: 1, tcp: 0, tls: 0 });
  });

  it('counts data a slow client refused as client_backlog and keeps answering requests', async () => {
    const { server, sockets } = setup();
    const c = new Peerless(server, 'tcp');
    await c.allocate();
    await c.permit(PEER_A);
    c.accept = false;
    sockets[0]!.deliver(new Uint8Array([1]), PEER_A);
    expect(server.metrics.dropped.client_backlog).toBe(1);
    expect(server.metrics.packetsPeerToClient).toBe(0);
    expect(code(await c.permit(PEER_B))).toBe(0);
  });

  it('does not keep an allocation whose connection closed while its relayed socket was opening', async () => {
    let release!: () => void;
    const { server, sockets } = setup(['ipv4'], undefined, new Promise<void>((r) => (release = r)));
    const c = new Peerless(server, 'tcp');
    const allocating = c.allocate().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
    server.closeTuple(c.tuple);
    release();
    await allocating;
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.closed).toBe(true);
    expect(server.metrics.allocations).toBe(0);
  });
});

describe('TurnServer: peers on the relay host itself', () => {
  // A relay on a public address: the policy would let that address through, the server must not.
  const RELAY_IP = '1.2.3.4';
  const LISTENER = { address: RELAY_IP, port: 3478 };

  // threat model (docs/threat-model.md): Relay user
  it("refuses every port of its own public address but a live allocation's relayed one, and forgets that one when the allocation ends", async () => {
    const { server, sockets } = setup(['ipv4'], [], undefined, { relayIpv4: RELAY_IP, ownAddresses: [RELAY_IP] });
    const a = new Peerless(server);
    const b = new Peerless(server);
    expect(code(await a.allocate())).toBe(0);
    expect(code(await b.allocate())).toBe(0);
    const B = sockets[1]!.address;
    expect(code(await a.permit(LISTENER))).toBe(403);
    expect(code(await a.bind(0x4001, { address: RELAY_IP, port: 5353 }))).toBe(403);
    expect(code(await a.permit({ address: '5.6.7.8', port: 9 }))).toBe(0); // any other public peer
    expect(code(await a.permit(B))).toBe(0);
    expect(code(await a.bind(0x4002, B))).toBe(0);

    // B ends; a later allocation that gets a socket on the same port must not inherit A's permission.
    expect(code(await b.request(METHOD.REFRESH, [encodeAttribute(codecs.lifetime, 0)]))).toBe(0);
    const before = server.metrics.dropped.no_permission ?? 0;
    await server.handleClientPacket(a.tuple, buildChannelData(0x4002, new Uint8Array([1])), a.reply);
    expect(server.metrics.dropped.no_permission).toBe(before + 1);
    expect(sockets[0]!.sent).toEqual([]);
    expect(code(await a.permit(B))).toBe(403);
  });

  it('lets the allow-list open its own address, as an explicit choice of the operator', async () => {
    const { server } = setup(['ipv4'], [`${RELAY_IP}/32`], undefined, { relayIpv4: RELAY_IP, ownAddresses: [RELAY_IP] });
    const a = new Peerless(server);
    expect(code(await a.allocate())).toBe(0);
    expect(code(await a.permit(LISTENER))).toBe(0);
  });
});

describe('TurnServer: allocation quotas', () => {
  it('counts per principal (the user id up to its first ".") and for the whole server, answering 486', async () => {
    const now = T0;
    const server = new TurnServer({
      realm: REALM,
      authSecret: SECRET,
      peerPolicy: peerPolicy(),
      now: () => now,
      limits: { maxAllocationsPerUser: 2, maxAllocations: 3 },
      relaySockets: async () => ({ address: { address: '192.0.2.1', port: 50000 + Math.floor(Math.random() * 10000) }, send: () => {}, close: () => {} }),
    });
    const allocateAs = async (userId: string): Promise<number | undefined> => {
      const c = new Peerless(server);
      const { username, password } = issueTurnCredentials(SECRET, userId, 3600, now);
      const udp = encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP);
      c.nonce = readAttribute(await c.request(METHOD.ALLOCATE, [udp], false), codecs.nonce)!;
      c.username = username;
      c.key = longTermKey(username, REALM, password);
      return code(await c.request(METHOD.ALLOCATE, [udp]));
    };
    expect(await allocateAs('ALICE.s1')).toBe(0);
    expect(await allocateAs('ALICE.s2')).toBe(0);
    expect(await allocateAs('ALICE.s3')).toBe(486);
    expect(await allocateAs('ALICE')).toBe(486); // the same principal without a session label
    expect(await allocateAs('GATEWAY.s1')).toBe(0);
    expect(await allocateAs('BOB.s1')).toBe(486); // the server's cap
    expect(server.metrics.quotaRefusals).toEqual({ principal: 2, relay: 1 });
  });
});
