/**
 * The TURN server end to end over real UDP sockets on loopback: a small client built from the
 * codec talks to startUdpTurnServer, and a UDP echo socket plays the peer. No timing
 * assertions: timeouts only turn a lost answer into a failure instead of a hang.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/testing/prng.ts';
import { startUdpTurnServer, type UdpTurnServer } from '../adapters/node/udp-turn.ts';
import { peerPolicy } from '../policy/peer-address.ts';
import { codecs, encodeAttribute, readAttribute, type TransportAddressInput } from '../stun/attributes.ts';
import { buildChannelData, isChannelData, parseChannelData } from '../stun/channel-data.ts';
import { ATTR, METHOD, TRANSPORT } from '../stun/constants.ts';
import { issueTurnCredentials, longTermKey } from '../stun/credentials.ts';
import { buildStunMessage, isStunMessage, newTransactionId, parseStunMessage, verifyMessageIntegrity, type StunAttributeInput, type StunMessage } from '../stun/message.ts';

const SECRET = 'test-shared-secret-0123456789';
const REALM = 'relay.test';
const TIMEOUT_MS = 3000;
/** coturn's test client (Debian package coturn), if installed: an independent implementation to talk to. */
const UCLIENT = spawnSync('sh', ['-c', 'command -v turnutils_uclient']).stdout?.toString().trim() ?? '';

/** A TURN client on one UDP socket: one 5-tuple. */
class Client {
  readonly socket: Socket;
  readonly #stun: StunMessage[] = [];
  readonly #channel: { channel: number; data: Uint8Array }[] = [];
  readonly #waiters: (() => void)[] = [];
  key: Uint8Array | undefined;
  username = '';
  nonce = '';

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg) => {
      const bytes = new Uint8Array(msg);
      if (isStunMessage(bytes)) this.#stun.push(parseStunMessage(bytes));
      else if (isChannelData(bytes)) {
        const cd = parseChannelData(bytes);
        this.#channel.push({ channel: cd.channel, data: cd.data.slice() });
      }
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(): Promise<Client> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new Client(s);
  }

  async #until<T>(take: () => T | undefined): Promise<T> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the server');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(bytes: Uint8Array, server: TransportAddressInput): void {
    this.socket.send(bytes, server.port, server.address);
  }

  /** `attributes` may depend on the transaction id (the XOR-*-ADDRESS attributes do). */
  async request(server: TransportAddressInput, method: number, attrs: StunAttributeInput[] | ((transactionId: Uint8Array) => StunAttributeInput[]), sign = true): Promise<StunMessage> {
    const transactionId = newTransactionId();
    const attributes = typeof attrs === 'function' ? attrs(transactionId) : attrs;
    const auth: StunAttributeInput[] = sign && this.key ? [encodeAttribute(codecs.username, this.username), encodeAttribute(codecs.realm, REALM), encodeAttribute(codecs.nonce, this.nonce)] : [];
    this.send(buildStunMessage({ method, messageClass: 'request', transactionId, attributes: [...attributes, ...auth] }, { integrityKey: sign ? this.key : undefined, fingerprint: true }), server);
    return this.#until(() => {
      const i = this.#stun.findIndex((m) => m.messageClass !== 'indication' && Buffer.from(m.transactionId).equals(Buffer.from(transactionId)));
      return i < 0 ? undefined : this.#stun.splice(i, 1)[0];
    });
  }

  /** Allocate the way a client does: unauthenticated first, then with the realm and nonce. */
  async allocate(server: TransportAddressInput, username: string, password: string): Promise<StunMessage> {
    const transport = encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP);
    const first = await this.request(server, METHOD.ALLOCATE, [transport], false);
    expect(errorCode(first)).toBe(401);
    this.nonce = readAttribute(first, codecs.nonce)!;
    this.username = username;
    this.key = longTermKey(username, readAttribute(first, codecs.realm)!, password);
    return this.request(server, METHOD.ALLOCATE, [transport]);
  }

  nextData(): Promise<{ peer: TransportAddressInput; data: Uint8Array }> {
    return this.#until(() => {
      const i = this.#stun.findIndex((m) => m.messageClass === 'indication' && m.method === METHOD.DATA);
      if (i < 0) return undefined;
      const m = this.#stun.splice(i, 1)[0]!;
      return { peer: readAttribute(m, codecs.xorPeerAddress)!, data: readAttribute(m, codecs.data)!.slice() };
    });
  }

  nextChannelData(): Promise<{ channel: number; data: Uint8Array }> {
    return this.#until(() => this.#channel.shift());
  }

  close(): void {
    this.socket.close();
  }
}

function errorCode(m: StunMessage): number | undefined {
  return m.messageClass === 'error' ? readAttribute(m, codecs.errorCode)?.code : undefined;
}

/** A UDP peer that answers every datagram with "echo:" + the datagram. */
async function echoPeer(): Promise<{ socket: Socket; address: TransportAddressInput; received: Uint8Array[] }> {
  const socket = createSocket('udp4');
  const received: Uint8Array[] = [];
  socket.on('message', (msg, rinfo) => {
    received.push(new Uint8Array(msg));
    socket.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { socket, address: { address: '127.0.0.1', port: socket.address().port }, received };
}

function creds(userId = 'alice', ttl = 600, now = Date.now()) {
  return issueTurnCredentials(SECRET, userId, ttl, now);
}

describe('TURN server over UDP', () => {
  let turn: UdpTurnServer;
  let open: UdpTurnServer;
  const clients: Client[] = [];
  const client = async (): Promise<Client> => {
    const c = await Client.open();
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
    const c = await client();
    const res = await c.request(turn.address, METHOD.BINDING, [], false);
    expect(res.messageClass).toBe('success');
    expect(readAttribute(res, codecs.xorMappedAddress)).toEqual({ family: 'ipv4', address: '127.0.0.1', port: c.socket.address().port });
  });

  it('challenges an unauthenticated Allocate with 401, REALM and NONCE', async () => {
    const c = await client();
    const res = await c.request(turn.address, METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP)], false);
    expect(errorCode(res)).toBe(401);
    expect(readAttribute(res, codecs.realm)).toBe(REALM);
    expect(readAttribute(res, codecs.nonce)).toMatch(/^[0-9]+\.[0-9a-f]{32}$/);
  });

  it('refuses an expired REST username and a wrong password with 401', async () => {
    const before = turn.server.metrics.authFailures;
    const expired = creds('alice', 1, Date.now() - 10_000);
    expect(errorCode(await (await client()).allocate(turn.address, expired.username, expired.password))).toBe(401);
    const good = creds();
    expect(errorCode(await (await client()).allocate(turn.address, good.username, 'not-the-password'))).toBe(401);
    expect(turn.server.metrics.authFailures).toBeGreaterThanOrEqual(before + 4);
  });

  it('answers a forged nonce with 438', async () => {
    const c = await client();
    const good = creds();
    await c.allocate(turn.address, good.username, good.password).then(() => undefined);
    c.nonce = `${Math.floor(Date.now() / 1000) + 100}.${'0'.repeat(32)}`;
    const res = await c.request(turn.address, METHOD.REFRESH, []);
    expect(errorCode(res)).toBe(438);
  });

  it('allocates with correct credentials, refuses a second Allocate (437) and enforces the quota (486)', async () => {
    const { username, password } = creds('bob');
    const c1 = await client();
    const res = await c1.allocate(turn.address, username, password);
    expect(res.messageClass).toBe('success');
    expect(verifyMessageIntegrity(res, c1.key!)).toBe(true);
    const relayed = readAttribute(res, codecs.xorRelayedAddress)!;
    expect(relayed.address).toBe('127.0.0.1');
    expect(relayed.port).toBeGreaterThan(0);
    expect(readAttribute(res, codecs.lifetime)).toBe(600);
    expect(readAttribute(res, codecs.xorMappedAddress)?.port).toBe(c1.socket.address().port);

    const again = await c1.request(turn.address, METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP)]);
    expect(errorCode(again)).toBe(437);

    expect((await (await client()).allocate(turn.address, username, password)).messageClass).toBe('success');
    expect(errorCode(await (await client()).allocate(turn.address, username, password))).toBe(486);
  });

  it('answers 442 for TCP and 420 for unknown comprehension-required attributes', async () => {
    const c = await client();
    const { username, password } = creds('carol');
    await c.allocate(turn.address, username, password).catch(() => undefined);
    const c2 = await client();
    c2.key = c.key;
    c2.username = c.username;
    c2.nonce = c.nonce;
    expect(errorCode(await c2.request(turn.address, METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.TCP)]))).toBe(442);
    const unknown = await c2.request(turn.address, METHOD.ALLOCATE, [encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP), { type: 0x7f01, value: new Uint8Array(4) }]);
    expect(errorCode(unknown)).toBe(420);
    expect(readAttribute(unknown, codecs.unknownAttributes)).toEqual([0x7f01]);
    // EVEN-PORT: an even relayed port; with the R bit (reserve the next one, unsupported) 508.
    const udp = encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP);
    expect(errorCode(await c2.request(turn.address, METHOD.ALLOCATE, [udp, encodeAttribute(codecs.evenPort, { reserveNextPort: true })]))).toBe(508);
    const even = await c2.request(turn.address, METHOD.ALLOCATE, [udp, encodeAttribute(codecs.evenPort, { reserveNextPort: false })]);
    expect(even.messageClass).toBe('success');
    expect(readAttribute(even, codecs.xorRelayedAddress)!.port % 2).toBe(0);
  });

  it('refuses a loopback peer by default (403)', async () => {
    const c = await client();
    const { username, password } = creds('dave');
    expect((await c.allocate(turn.address, username, password)).messageClass).toBe('success');
    expect(errorCode(await permission(c, turn.address, { address: '127.0.0.1', port: 9 }))).toBe(403);
    expect(turn.server.metrics.allocations).toBeGreaterThan(0);
  });

  it('relays Send indications to an allow-listed peer and its answers back as Data indications', async () => {
    const peer = await echoPeer();
    try {
      const c = await client();
      const { username, password } = creds('erin');
      const res = await c.allocate(open.address, username, password);
      expect(res.messageClass).toBe('success');
      const relayed = readAttribute(res, codecs.xorRelayedAddress)!;

      expect((await permission(c, open.address, peer.address)).messageClass).toBe('success');
      const payload = new Uint8Array([0, 1, 2, 250, 255, 0x40, 0x00]);
      c.send(sendIndication(peer.address, payload), open.address);
      const back = await c.nextData();
      expect(back.peer).toEqual({ family: 'ipv4', ...peer.address });
      expect(Buffer.from(back.data)).toEqual(Buffer.concat([Buffer.from('echo:'), Buffer.from(payload)]));
      expect(Buffer.from(peer.received[0]!)).toEqual(Buffer.from(payload));

      // The peer saw the relayed address, not the client's.
      expect(relayed.port).not.toBe(c.socket.address().port);

      // ChannelBind, then ChannelData both ways, byte for byte.
      const bind = await channelBind(c, open.address, 0x4001, peer.address);
      expect(bind.messageClass).toBe('success');
      const data = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
      c.send(buildChannelData(0x4001, data), open.address);
      const cd = await c.nextChannelData();
      expect(cd.channel).toBe(0x4001);
      expect(Buffer.from(cd.data)).toEqual(Buffer.concat([Buffer.from('echo:'), Buffer.from(data)]));
      expect(Buffer.from(peer.received[1]!)).toEqual(Buffer.from(data));

      // Bad channel numbers and conflicting bindings are 400.
      expect(errorCode(await channelBind(c, open.address, 0x3fff, peer.address))).toBe(400);
      expect(errorCode(await channelBind(c, open.address, 0x4002, peer.address))).toBe(400);

      const m = open.server.metrics;
      expect(m.bytesClientToPeer).toBeGreaterThanOrEqual(payload.length + data.length);
      expect(m.bytesPeerToClient).toBeGreaterThanOrEqual(payload.length + data.length + 10);

      // Refresh with LIFETIME 0 removes the allocation; its 5-tuple then has none (437).
      const before = open.server.metrics.allocations;
      const refresh = await c.request(open.address, METHOD.REFRESH, [encodeAttribute(codecs.lifetime, 0)]);
      expect(refresh.messageClass).toBe('success');
      expect(open.server.metrics.allocations).toBe(before - 1);
      expect(errorCode(await c.request(open.address, METHOD.REFRESH, []))).toBe(437);
    } finally {
      peer.socket.close();
    }
  });

  it('drops Send indications to peers without a permission', async () => {
    const peer = await echoPeer();
    try {
      const c = await client();
      const { username, password } = creds('frank');
      expect((await c.allocate(open.address, username, password)).messageClass).toBe('success');
      const before = open.server.metrics.dropped.no_permission ?? 0;
      c.send(sendIndication(peer.address, new Uint8Array([1, 2, 3])), open.address);
      // A Binding round trip after it: the server has handled the indication by then.
      await c.request(open.address, METHOD.BINDING, [], false);
      expect(open.server.metrics.dropped.no_permission).toBe(before + 1);
      expect(peer.received).toEqual([]);
    } finally {
      peer.socket.close();
    }
  });

  // -s: Send/Data indications. Without it uclient binds channels from the RFC 5766 range
  // (0x4000–0x7FFE, e.g. 0x542A), which RFC 8656 narrowed to 0x4000–0x4FFF, and we answer 400.
  // -c: no RTCP allocation pair. -y: two clients relay to each other's 127.0.0.1 relayed
  // addresses, so this runs against the server that allow-lists loopback.
  const uclientTest = UCLIENT ? 'relays turnutils_uclient traffic without loss' : 'relays turnutils_uclient traffic (skipped: turnutils_uclient is not installed; it is in the Debian package coturn)';
  it.skipIf(!UCLIENT)(uclientTest, async () => {
    const peer = await echoPeer();
    try {
      const { username, password } = creds('uclient');
      const args = ['-s', '-c', '-y', '-u', username, '-w', password, '-n', '10', '-l', '100', '-e', '127.0.0.1', '-r', String(peer.address.port), '-p', String(open.address.port), '127.0.0.1'];
      const output = await new Promise<string>((resolve, reject) => {
        execFile(UCLIENT, args, { timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}${stderr}`)) : resolve(`${stdout}${stderr}`)));
      });
      const lost = /Total lost packets (\d+)/.exec(output);
      const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(output);
      expect(lost?.[1], output).toBe('0');
      expect(Number(totals?.[1]), output).toBeGreaterThan(0);
      expect(totals?.[2], output).toBe(totals?.[1]);
    } finally {
      peer.socket.close();
    }
  }, 90_000);

  it('drops thousands of malformed and random datagrams and keeps answering', async () => {
    const c = await client();
    const rand = mulberry32(0x7e57);
    const byte = (): number => Math.floor(rand() * 256);
    const valid = buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: newTransactionId(), attributes: [encodeAttribute(codecs.software, 'x')] }, { fingerprint: true });
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
      c.send(bytes, turn.address);
      if (i % 200 === 199) await c.request(turn.address, METHOD.BINDING, [], false);
    }
    const res = await c.request(turn.address, METHOD.BINDING, [], false);
    expect(res.messageClass).toBe('success');
    const dropped = turn.server.metrics.dropped;
    expect((dropped.malformed ?? 0) + (dropped.no_allocation ?? 0)).toBeGreaterThan(1000);
  });
});

function sendIndication(peer: TransportAddressInput, data: Uint8Array): Uint8Array {
  const transactionId = newTransactionId();
  return buildStunMessage({
    method: METHOD.SEND,
    messageClass: 'indication',
    transactionId,
    attributes: [encodeAttribute(codecs.xorPeerAddress, peer, transactionId), { type: ATTR.DATA, value: data }],
  });
}

function permission(c: Client, server: TransportAddressInput, peer: TransportAddressInput): Promise<StunMessage> {
  return c.request(server, METHOD.CREATE_PERMISSION, (txid) => [encodeAttribute(codecs.xorPeerAddress, peer, txid)]);
}

function channelBind(c: Client, server: TransportAddressInput, channel: number, peer: TransportAddressInput): Promise<StunMessage> {
  const number = new Uint8Array([channel >> 8, channel & 0xff, 0, 0]);
  return c.request(server, METHOD.CHANNEL_BIND, (txid) => [{ type: ATTR.CHANNEL_NUMBER, value: number }, encodeAttribute(codecs.xorPeerAddress, peer, txid)]);
}
