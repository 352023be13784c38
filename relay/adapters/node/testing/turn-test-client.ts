/**
 * A small TURN client for the relay's own tests (not part of the relay): built from the codec,
 * over UDP, TCP or TLS, one 5-tuple each. Timeouts only turn a lost answer into a failure
 * instead of a hang; nothing here measures time.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { codecs, encodeAttribute, readAttribute, type TransportAddressInput } from '../../../stun/attributes.ts';
import { buildChannelData, isChannelData, parseChannelData, TurnStreamFramer } from '../../../stun/channel-data.ts';
import { ATTR, METHOD, TRANSPORT } from '../../../stun/constants.ts';
import { longTermKey } from '../../../stun/credentials.ts';
import { buildStunMessage, isStunMessage, newTransactionId, parseStunMessage, type StunAttributeInput, type StunMessage } from '../../../stun/message.ts';

const TIMEOUT_MS = 5000;

export type TestTransport = 'udp' | 'tcp' | 'tls';

export function errorCode(m: StunMessage): number | undefined {
  return m.messageClass === 'error' ? readAttribute(m, codecs.errorCode)?.code : undefined;
}

export class TurnTestClient {
  readonly transport: TestTransport;
  readonly #send: (bytes: Uint8Array) => void;
  readonly #close: () => void;
  #stream: Socket | undefined;
  readonly #stun: StunMessage[] = [];
  readonly #channel: { channel: number; data: Uint8Array }[] = [];
  readonly #waiters: (() => void)[] = [];
  /** Resolves when the server closes a stream connection. */
  readonly ended: Promise<void>;
  #ended = false;
  key: Uint8Array | undefined;
  username = '';
  realm = '';
  nonce = '';
  /** The local port (the client side of the 5-tuple). */
  localPort = 0;

  private constructor(transport: TestTransport, send: (bytes: Uint8Array) => void, close: () => void, ended: Promise<void>) {
    this.transport = transport;
    this.#send = send;
    this.#close = close;
    this.ended = ended.then(() => {
      this.#ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  #receive(bytes: Uint8Array): void {
    if (isStunMessage(bytes)) this.#stun.push(parseStunMessage(bytes));
    else if (isChannelData(bytes)) {
      const cd = parseChannelData(bytes, this.transport === 'udp' ? 'udp' : 'tcp');
      this.#channel.push({ channel: cd.channel, data: cd.data.slice() });
    }
    this.#wake();
  }

  static async open(transport: TestTransport, server: TransportAddressInput, tls?: { ca: string | Buffer; servername?: string }): Promise<TurnTestClient> {
    if (transport === 'udp') {
      const socket: UdpSocket = createSocket(server.address.includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((r) => socket.bind(0, server.address.includes(':') ? '::1' : '127.0.0.1', () => r()));
      const c = new TurnTestClient(
        'udp',
        (b) => socket.send(b, server.port, server.address),
        () => socket.close(),
        new Promise(() => {}),
      );
      c.localPort = socket.address().port;
      socket.on('message', (m) => c.#receive(new Uint8Array(m)));
      return c;
    }
    const socket: Socket = await new Promise((resolve, reject) => {
      const s: Socket =
        transport === 'tls'
          ? tlsConnect({ host: server.address, port: server.port, ca: tls?.ca, servername: tls?.servername ?? 'localhost' }, () => resolve(s))
          : tcpConnect({ host: server.address, port: server.port }, () => resolve(s));
      s.once('error', reject);
    });
    socket.on('error', () => {});
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    const c = new TurnTestClient(
      transport,
      (b) => socket.write(b),
      () => socket.destroy(),
      ended,
    );
    c.#stream = socket;
    c.localPort = socket.localPort ?? 0;
    const framer = new TurnStreamFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const f of framer.push(new Uint8Array(chunk))) c.#receive(f.bytes);
    });
    return c;
  }

  /** Stream clients: stop reading (the server's writes back up), and read again. */
  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    this.#stream?.resume();
  }

  get isEnded(): boolean {
    return this.#ended;
  }

  async #until<T>(take: () => T | undefined): Promise<T> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.#ended) throw new Error('the server closed the connection');
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

  send(bytes: Uint8Array): void {
    this.#send(bytes);
  }

  /** `attrs` may depend on the transaction id (the XOR-*-ADDRESS attributes do). */
  async request(method: number, attrs: StunAttributeInput[] | ((transactionId: Uint8Array) => StunAttributeInput[]), sign = true): Promise<StunMessage> {
    const transactionId = newTransactionId();
    const attributes = typeof attrs === 'function' ? attrs(transactionId) : attrs;
    const auth: StunAttributeInput[] =
      sign && this.key
        ? [encodeAttribute(codecs.username, this.username), encodeAttribute(codecs.realm, this.realm), encodeAttribute(codecs.nonce, this.nonce)]
        : [];
    this.send(
      buildStunMessage(
        { method, messageClass: 'request', transactionId, attributes: [...attributes, ...auth] },
        { integrityKey: sign ? this.key : undefined, fingerprint: true },
      ),
    );
    return this.#until(() => {
      const i = this.#stun.findIndex((m) => m.messageClass !== 'indication' && Buffer.from(m.transactionId).equals(Buffer.from(transactionId)));
      return i < 0 ? undefined : this.#stun.splice(i, 1)[0];
    });
  }

  /** Allocate the way a client does: unauthenticated first (401), then with the realm and nonce. */
  async allocate(username: string, password: string, extra: StunAttributeInput[] = []): Promise<StunMessage> {
    const transport = encodeAttribute(codecs.requestedTransport, TRANSPORT.UDP);
    const first = await this.request(METHOD.ALLOCATE, [transport, ...extra], false);
    if (errorCode(first) !== 401) return first;
    this.nonce = readAttribute(first, codecs.nonce)!;
    this.realm = readAttribute(first, codecs.realm)!;
    this.username = username;
    this.key = longTermKey(username, this.realm, password);
    return this.request(METHOD.ALLOCATE, [transport, ...extra]);
  }

  permission(peer: TransportAddressInput): Promise<StunMessage> {
    return this.request(METHOD.CREATE_PERMISSION, (txid) => [encodeAttribute(codecs.xorPeerAddress, peer, txid)]);
  }

  channelBind(channel: number, peer: TransportAddressInput): Promise<StunMessage> {
    return this.request(METHOD.CHANNEL_BIND, (txid) => [encodeAttribute(codecs.channelNumber, channel), encodeAttribute(codecs.xorPeerAddress, peer, txid)]);
  }

  sendIndication(peer: TransportAddressInput, data: Uint8Array): void {
    const transactionId = newTransactionId();
    this.send(
      buildStunMessage({
        method: METHOD.SEND,
        messageClass: 'indication',
        transactionId,
        attributes: [encodeAttribute(codecs.xorPeerAddress, peer, transactionId), { type: ATTR.DATA, value: data }],
      }),
    );
  }

  sendChannelData(channel: number, data: Uint8Array): void {
    this.send(buildChannelData(channel, data, this.transport === 'udp' ? 'udp' : 'tcp'));
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
    this.#close();
  }
}

/** A UDP peer that answers every datagram with "echo:" + the datagram. */
export async function echoPeer(host = '127.0.0.1'): Promise<{ socket: UdpSocket; address: TransportAddressInput; received: Uint8Array[]; close(): void }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const received: Uint8Array[] = [];
  socket.on('message', (msg, rinfo) => {
    received.push(new Uint8Array(msg));
    socket.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, host, () => r()));
  return { socket, address: { address: host, port: socket.address().port }, received, close: () => socket.close() };
}
