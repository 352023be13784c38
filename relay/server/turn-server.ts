/**
 * The TURN allocation server (RFC 8656) for UDP, independent of any runtime: it is handed
 * datagrams from clients and from peers, and answers through callbacks, so the same logic can
 * sit behind node:dgram (adapters/node/udp-turn.ts) or anything else that moves datagrams.
 *
 * What it does: Binding; Allocate, Refresh, CreatePermission and ChannelBind with long-term
 * credentials of the TURN REST kind (credentials.ts: the password is derived from the username
 * and the shared secret, so the relay keeps no user table); Send and Data indications;
 * ChannelData both ways; quotas; the peer policy (policy/peer-address.ts) on every peer a client
 * names; metrics.
 *
 * Decisions:
 * - Nonces are stateless: "<expiry seconds>.<hex HMAC-SHA256(nonce key, expiry)>", so a nonce
 *   costs no memory and a flood of unauthenticated requests cannot grow any table. The nonce key
 *   is random per server instance; a restart makes old nonces stale (438), which clients handle.
 * - No timers inside: the adapter calls sweep() (once a second) to expire allocations,
 *   permissions and channels, and now() is injected, so tests and other runtimes control time.
 * - Only UDP relaying, IPv4 relayed addresses only (440 otherwise). EVEN-PORT is honoured by
 *   retrying sockets until the port is even; reserving the next port (its R bit) and
 *   RESERVATION-TOKEN are not supported (508 and 420). DONT-FRAGMENT is accepted and ignored.
 * - A channel that expires can be rebound at once; RFC 8656 §12 asks for a 5-minute quarantine
 *   before a channel number or peer is reused, which is not implemented yet.
 * - Everything that does not parse, or that a server must not answer (responses, indications it
 *   cannot act on), is dropped and counted by reason; nothing a client sends can throw out of
 *   handleClientPacket except a bug.
 * - Secrets (the shared secret, derived passwords, keys) are never logged; logs carry the REST
 *   user id at most.
 */
import { equalBytes, hmacSha256, randomBytes, toHex, utf8 } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { encodeAttribute, codecs, readAttribute, readAttributes, UNDERSTOOD_ATTRIBUTES, canonicalIpAddress, type TransportAddressInput } from '../stun/attributes.ts';
import { buildChannelData, classifyPacket, parseChannelData } from '../stun/channel-data.ts';
import { ATTR, ERROR, METHOD, TRANSPORT } from '../stun/constants.ts';
import { checkTurnUsername, longTermKey, turnPassword } from '../stun/credentials.ts';
import {
  buildStunMessage,
  getAttribute,
  parseStunMessage,
  StunError,
  unknownComprehensionRequired,
  verifyFingerprint,
  verifyMessageIntegrity,
  type StunAttributeInput,
  type StunMessage,
} from '../stun/message.ts';
import { checkPeer, type PeerPolicy } from '../policy/peer-address.ts';

// ---------------------------------------------------------------------------------------------
// what the adapter provides
// ---------------------------------------------------------------------------------------------

/** The client side of a UDP 5-tuple; the server side and the protocol are fixed per server. */
export interface FiveTuple {
  readonly client: TransportAddressInput;
}

/** A relayed UDP socket, opened for one allocation and closed when it ends. */
export interface RelaySocket {
  /** The relayed transport address (what XOR-RELAYED-ADDRESS tells the client). */
  readonly address: TransportAddressInput;
  send(bytes: Uint8Array, peer: TransportAddressInput): void;
  close(): void;
}

/** Opens a relayed socket; `onPacket` is called for every datagram a peer sends to it. */
export type RelaySocketFactory = (onPacket: (bytes: Uint8Array, from: TransportAddressInput) => void) => Promise<RelaySocket>;

/** Sends a datagram back to the client of a 5-tuple. */
export type Reply = (bytes: Uint8Array) => void;

export type TurnLog = (level: 'info' | 'warn', event: string, fields: Record<string, unknown>) => void;

export interface TurnLimits {
  /** Concurrent allocations one REST user id may hold (486 beyond). */
  readonly maxAllocationsPerUser: number;
  readonly defaultLifetimeS: number;
  readonly maxLifetimeS: number;
  readonly permissionLifetimeS: number;
  readonly channelLifetimeS: number;
  /** How long a nonce stays fresh before 438. */
  readonly nonceLifetimeS: number;
}

export const DEFAULT_TURN_LIMITS: TurnLimits = {
  maxAllocationsPerUser: 10,
  defaultLifetimeS: 600,
  maxLifetimeS: 3600,
  permissionLifetimeS: 300,
  channelLifetimeS: 600,
  nonceLifetimeS: 3600,
};

export interface TurnServerOptions {
  readonly realm: string;
  /** The REST shared secret (coturn's use-auth-secret / static-auth-secret). Never logged. */
  readonly authSecret: string | Uint8Array;
  readonly peerPolicy: PeerPolicy;
  readonly relaySockets: RelaySocketFactory;
  /** Milliseconds since the epoch. Default Date.now. */
  readonly now?: (() => number) | undefined;
  readonly limits?: Partial<TurnLimits> | undefined;
  readonly log?: TurnLog | undefined;
}

export type DropReason =
  | 'malformed' // neither STUN nor ChannelData, or did not parse
  | 'bad_fingerprint'
  | 'unexpected_class' // a response sent to the server
  | 'unknown_indication'
  | 'no_allocation' // an indication or ChannelData on a 5-tuple without an allocation
  | 'no_permission' // to or from a peer without a permission
  | 'unbound_channel'
  | 'allocation_pending' // a retransmitted Allocate while its socket is being opened
  | 'send_failed';

export interface TurnMetrics {
  readonly allocations: number;
  readonly bytesClientToPeer: number;
  readonly bytesPeerToClient: number;
  readonly packetsClientToPeer: number;
  readonly packetsPeerToClient: number;
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  readonly authFailures: number;
}

// ---------------------------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------------------------

interface Channel {
  readonly number: number;
  readonly peer: TransportAddressInput;
  expiresAt: number;
}

interface Allocation {
  readonly key: string;
  readonly username: string;
  readonly userId: string;
  readonly integrityKey: Uint8Array;
  readonly socket: RelaySocket;
  readonly reply: Reply;
  /** The Allocate's transaction id and success response, replayed to a retransmission. */
  readonly allocateTransaction: Uint8Array;
  readonly allocateResponse: Uint8Array;
  expiresAt: number;
  /** Canonical peer IP → expiry (ms). Permissions are per IP, not per port (RFC 8656 §9). */
  readonly permissions: Map<string, number>;
  readonly channelsByNumber: Map<number, Channel>;
  /** "ip|port" → channel. */
  readonly channelsByPeer: Map<string, Channel>;
  closed: boolean;
}

/** Request-level failures, turned into error responses by handleRequest. */
class TurnRequestError extends PosternError {
  readonly stunCode: number;
  readonly extra: readonly StunAttributeInput[];
  constructor(stunCode: number, message: string, extra: readonly StunAttributeInput[] = []) {
    super(stunCode === 401 || stunCode === 438 ? 'unauthorized' : stunCode === 403 ? 'not_allowed' : 'bad_request', message, { stunCode });
    this.name = 'TurnRequestError';
    this.stunCode = stunCode;
    this.extra = extra;
  }
}

/** What we understand: port reservations are not supported, so RESERVATION-TOKEN draws 420. */
const UNDERSTOOD: ReadonlySet<number> = new Set([...UNDERSTOOD_ATTRIBUTES].filter((t) => t !== ATTR.RESERVATION_TOKEN));

/** How many relayed sockets to try for an even port (EVEN-PORT) before answering 508. */
const EVEN_PORT_ATTEMPTS = 16;

function tupleKey(t: FiveTuple): string {
  return `${t.client.address}|${t.client.port}`;
}

function peerKey(p: TransportAddressInput): string {
  return `${p.address}|${p.port}`;
}

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

export class TurnServer {
  readonly #realm: string;
  readonly #secret: string | Uint8Array;
  readonly #policy: PeerPolicy;
  readonly #relaySockets: RelaySocketFactory;
  readonly #now: () => number;
  readonly #limits: TurnLimits;
  readonly #log: TurnLog;
  /** Signs nonces; random per instance, never leaves the process. */
  readonly #nonceKey = randomBytes(32);

  readonly #allocations = new Map<string, Allocation>();
  /** 5-tuples whose Allocate is waiting for its relayed socket, and their user ids. */
  readonly #pending = new Map<string, string>();
  #closed = false;

  #bytesOut = 0;
  #bytesIn = 0;
  #packetsOut = 0;
  #packetsIn = 0;
  #authFailures = 0;
  readonly #dropped: Partial<Record<DropReason, number>> = {};

  constructor(options: TurnServerOptions) {
    this.#realm = options.realm;
    this.#secret = options.authSecret;
    this.#policy = options.peerPolicy;
    this.#relaySockets = options.relaySockets;
    this.#now = options.now ?? Date.now;
    this.#limits = { ...DEFAULT_TURN_LIMITS, ...options.limits };
    this.#log = options.log ?? (() => {});
  }

  get metrics(): TurnMetrics {
    return {
      allocations: this.#allocations.size,
      bytesClientToPeer: this.#bytesOut,
      bytesPeerToClient: this.#bytesIn,
      packetsClientToPeer: this.#packetsOut,
      packetsPeerToClient: this.#packetsIn,
      dropped: { ...this.#dropped },
      authFailures: this.#authFailures,
    };
  }

  #drop(reason: DropReason): void {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
  }

  /**
   * One datagram from a client. Resolves once it is answered (Allocate waits for its relayed
   * socket); never rejects for anything the client sent.
   */
  async handleClientPacket(tuple: FiveTuple, bytes: Uint8Array, reply: Reply): Promise<void> {
    const kind = classifyPacket(bytes);
    if (kind === 'channel_data') return this.#clientChannelData(tuple, bytes);
    if (kind !== 'stun') return this.#drop('malformed');
    let msg: StunMessage;
    try {
      msg = parseStunMessage(bytes);
    } catch (e) {
      if (e instanceof StunError) return this.#drop('malformed');
      throw e;
    }
    // FINGERPRINT is optional; when present it must be right (RFC 8489 §7.3).
    const last = msg.attributes[msg.attributes.length - 1];
    if (last?.type === ATTR.FINGERPRINT && !verifyFingerprint(msg)) return this.#drop('bad_fingerprint');
    if (msg.messageClass === 'indication') return this.#indication(tuple, msg);
    if (msg.messageClass !== 'request') return this.#drop('unexpected_class');
    await this.#request(tuple, msg, reply);
  }

  /** Ends every allocation whose lifetime ran out, and the permissions and channels within. */
  sweep(): void {
    const now = this.#now();
    for (const a of this.#allocations.values()) {
      if (a.expiresAt <= now) {
        this.#deleteAllocation(a, 'expired');
        continue;
      }
      for (const [ip, expiresAt] of a.permissions) if (expiresAt <= now) a.permissions.delete(ip);
      for (const c of a.channelsByNumber.values()) {
        if (c.expiresAt <= now) {
          a.channelsByNumber.delete(c.number);
          a.channelsByPeer.delete(peerKey(c.peer));
        }
      }
    }
  }

  /** Closes every relayed socket (server shutdown). */
  close(): void {
    this.#closed = true;
    for (const a of [...this.#allocations.values()]) this.#deleteAllocation(a, 'shutdown');
  }

  #deleteAllocation(a: Allocation, why: string): void {
    if (a.closed) return;
    a.closed = true;
    this.#allocations.delete(a.key);
    try {
      a.socket.close();
    } catch {
      // Already closed: nothing to release.
    }
    this.#log('info', 'turn.allocation.deleted', { userId: a.userId, relayed: a.socket.address, why });
  }

  // -------------------------------------------------------------------------------------------
  // requests
  // -------------------------------------------------------------------------------------------

  async #request(tuple: FiveTuple, msg: StunMessage, reply: Reply): Promise<void> {
    let key: Uint8Array | undefined;
    try {
      const unknown = unknownComprehensionRequired(msg, UNDERSTOOD);
      if (unknown.length > 0) {
        this.#log('info', 'turn.unknown_attributes', { method: msg.method, types: unknown });
        throw new TurnRequestError(ERROR.UNKNOWN_ATTRIBUTE, 'unknown attributes', [encodeAttribute(codecs.unknownAttributes, unknown)]);
      }
      // Binding needs no credentials (RFC 8656 §4: a TURN server is also a STUN server).
      if (msg.method === METHOD.BINDING) return reply(this.#response(msg, 'success', [encodeAttribute(codecs.xorMappedAddress, tuple.client, msg.transactionId)]));
      if (msg.method !== METHOD.ALLOCATE && msg.method !== METHOD.REFRESH && msg.method !== METHOD.CREATE_PERMISSION && msg.method !== METHOD.CHANNEL_BIND) {
        throw new TurnRequestError(ERROR.BAD_REQUEST, 'unknown method');
      }
      const auth = this.#authenticate(msg);
      key = auth.key;
      const existing = this.#allocations.get(tupleKey(tuple));
      if (msg.method === METHOD.ALLOCATE) {
        // A retransmission of the Allocate that created the allocation gets the same answer.
        if (existing && equalBytes(existing.allocateTransaction, msg.transactionId)) return reply(existing.allocateResponse);
        return await this.#allocate(tuple, msg, reply, auth, existing);
      }
      if (!existing) throw new TurnRequestError(ERROR.ALLOCATION_MISMATCH, 'no allocation for this 5-tuple');
      // The allocation belongs to the credentials that made it (RFC 8656 §5).
      if (existing.username !== auth.username) throw new TurnRequestError(ERROR.WRONG_CREDENTIALS, 'not the credentials of this allocation');
      if (msg.method === METHOD.REFRESH) return reply(this.#refresh(existing, msg, key));
      if (msg.method === METHOD.CREATE_PERMISSION) return reply(this.#createPermission(existing, msg, key));
      return reply(this.#channelBind(existing, msg, key));
    } catch (e) {
      if (e instanceof TurnRequestError) {
        if (e.stunCode === ERROR.UNAUTHENTICATED || e.stunCode === ERROR.STALE_NONCE) this.#authFailures++;
        else this.#log('info', 'turn.request.refused', { method: msg.method, code: e.stunCode, error: e.message });
        // 401 and 438 go unsigned: the client has no key we accept yet.
        const sign = e.stunCode !== ERROR.UNAUTHENTICATED && e.stunCode !== ERROR.STALE_NONCE ? key : undefined;
        reply(this.#error(msg, e.stunCode, e.extra, sign));
        return;
      }
      if (e instanceof StunError) {
        // An attribute value that does not decode: the request is malformed.
        this.#log('info', 'turn.request.malformed', { method: msg.method, reason: e.reason, error: e.message });
        reply(this.#error(msg, ERROR.BAD_REQUEST, [], key));
        return;
      }
      throw e;
    }
  }

  #authenticate(msg: StunMessage): { username: string; userId: string; key: Uint8Array } {
    const challenge = (): StunAttributeInput[] => [encodeAttribute(codecs.realm, this.#realm), encodeAttribute(codecs.nonce, this.#issueNonce())];
    if (!getAttribute(msg, ATTR.MESSAGE_INTEGRITY)) throw new TurnRequestError(ERROR.UNAUTHENTICATED, 'no MESSAGE-INTEGRITY', challenge());
    const username = readAttribute(msg, codecs.username);
    const realm = readAttribute(msg, codecs.realm);
    const nonce = readAttribute(msg, codecs.nonce);
    if (username === undefined || realm === undefined || nonce === undefined) throw new TurnRequestError(ERROR.BAD_REQUEST, 'USERNAME, REALM and NONCE are required');
    if (!this.#nonceFresh(nonce)) throw new TurnRequestError(ERROR.STALE_NONCE, 'stale nonce', challenge());
    let userId: string;
    try {
      userId = checkTurnUsername(username, this.#now()).userId;
    } catch (e) {
      if (e instanceof StunError) {
        this.#log('info', 'turn.auth.refused', { reason: e.reason });
        throw new TurnRequestError(ERROR.UNAUTHENTICATED, e.message, challenge());
      }
      throw e;
    }
    // The key is over our realm: a client that names another one fails the check below.
    const key = longTermKey(username, this.#realm, turnPassword(this.#secret, username));
    if (realm !== this.#realm || !verifyMessageIntegrity(msg, key)) {
      this.#log('info', 'turn.auth.refused', { reason: 'bad_integrity', userId });
      throw new TurnRequestError(ERROR.UNAUTHENTICATED, 'wrong credentials', challenge());
    }
    return { username, userId, key };
  }

  #issueNonce(): string {
    const expiry = String(Math.floor(this.#now() / 1000) + this.#limits.nonceLifetimeS);
    return `${expiry}.${toHex(hmacSha256(this.#nonceKey, utf8(expiry)).subarray(0, 16))}`;
  }

  #nonceFresh(nonce: string): boolean {
    const dot = nonce.indexOf('.');
    if (dot < 1 || dot > 12) return false;
    const expiry = nonce.slice(0, dot);
    if (!/^[0-9]+$/.test(expiry)) return false;
    const expected = toHex(hmacSha256(this.#nonceKey, utf8(expiry)).subarray(0, 16));
    // Constant-time on the MAC; the expiry is public.
    if (!equalBytes(utf8(expected), utf8(nonce.slice(dot + 1)))) return false;
    return this.#now() < Number(expiry) * 1000;
  }

  #lifetime(msg: StunMessage): number {
    const requested = readAttribute(msg, codecs.lifetime);
    if (requested === undefined) return this.#limits.defaultLifetimeS;
    return Math.min(Math.max(requested, this.#limits.defaultLifetimeS), this.#limits.maxLifetimeS);
  }

  async #allocate(tuple: FiveTuple, msg: StunMessage, reply: Reply, auth: { username: string; userId: string; key: Uint8Array }, existing: Allocation | undefined): Promise<void> {
    const k = tupleKey(tuple);
    if (existing) throw new TurnRequestError(ERROR.ALLOCATION_MISMATCH, 'an allocation already exists for this 5-tuple');
    if (this.#pending.has(k)) return this.#drop('allocation_pending');
    const transport = readAttribute(msg, codecs.requestedTransport);
    if (transport === undefined) throw new TurnRequestError(ERROR.BAD_REQUEST, 'REQUESTED-TRANSPORT is required');
    if (transport !== TRANSPORT.UDP) throw new TurnRequestError(ERROR.UNSUPPORTED_TRANSPORT_PROTOCOL, 'only UDP relaying');
    const family = readAttribute(msg, codecs.requestedAddressFamily);
    if (family !== undefined && family !== 0x01) throw new TurnRequestError(ERROR.ADDRESS_FAMILY_NOT_SUPPORTED, 'IPv4 relaying only');
    // EVEN-PORT (RFC 8656 §7.2): an even relayed port we can give by trying a few sockets; the
    // R bit asks us to also reserve the next port, which we do not do, so it draws 508 as the
    // RFC says for a request the server cannot satisfy.
    const evenPort = readAttribute(msg, codecs.evenPort);
    if (evenPort?.reserveNextPort) throw new TurnRequestError(ERROR.INSUFFICIENT_CAPACITY, 'port reservation is not supported');
    let held = 0;
    for (const a of this.#allocations.values()) if (a.userId === auth.userId) held++;
    for (const u of this.#pending.values()) if (u === auth.userId) held++;
    if (held >= this.#limits.maxAllocationsPerUser) throw new TurnRequestError(ERROR.ALLOCATION_QUOTA_REACHED, 'allocation quota reached');
    const lifetime = this.#lifetime(msg);

    this.#pending.set(k, auth.userId);
    let allocation: Allocation | undefined;
    let socket: RelaySocket | undefined;
    try {
      for (let attempt = 0; attempt < (evenPort ? EVEN_PORT_ATTEMPTS : 1) && !socket; attempt++) {
        const candidate = await this.#relaySockets((bytes, from) => {
          if (allocation) this.#peerPacket(allocation, bytes, from);
        });
        if (evenPort && candidate.address.port % 2 !== 0) candidate.close();
        else socket = candidate;
      }
    } catch (e) {
      this.#log('warn', 'turn.relay_socket.failed', { error: e instanceof Error ? e.message : String(e) });
      throw new TurnRequestError(ERROR.INSUFFICIENT_CAPACITY, 'could not open a relayed socket');
    } finally {
      this.#pending.delete(k);
    }
    if (!socket) throw new TurnRequestError(ERROR.INSUFFICIENT_CAPACITY, 'no even relayed port');
    // The server may have been closed while the socket was opening: do not leak it.
    if (this.#closed) {
      socket.close();
      return;
    }
    const response = this.#response(
      msg,
      'success',
      [
        encodeAttribute(codecs.xorRelayedAddress, socket.address, msg.transactionId),
        encodeAttribute(codecs.xorMappedAddress, tuple.client, msg.transactionId),
        encodeAttribute(codecs.lifetime, lifetime),
      ],
      auth.key,
    );
    allocation = {
      key: k,
      username: auth.username,
      userId: auth.userId,
      integrityKey: auth.key,
      socket,
      reply,
      allocateTransaction: msg.transactionId.slice(),
      allocateResponse: response,
      expiresAt: this.#now() + lifetime * 1000,
      permissions: new Map(),
      channelsByNumber: new Map(),
      channelsByPeer: new Map(),
      closed: false,
    };
    this.#allocations.set(k, allocation);
    this.#log('info', 'turn.allocation.created', { userId: auth.userId, client: tuple.client, relayed: socket.address, lifetime });
    reply(response);
  }

  #refresh(a: Allocation, msg: StunMessage, key: Uint8Array): Uint8Array {
    const requested = readAttribute(msg, codecs.lifetime);
    if (requested === 0) {
      this.#deleteAllocation(a, 'refresh_zero');
      return this.#response(msg, 'success', [encodeAttribute(codecs.lifetime, 0)], key);
    }
    const lifetime = this.#lifetime(msg);
    a.expiresAt = this.#now() + lifetime * 1000;
    return this.#response(msg, 'success', [encodeAttribute(codecs.lifetime, lifetime)], key);
  }

  /** The peer's address canonicalised, after the policy and family checks (403 / 443). */
  #checkedPeer(a: Allocation, peer: TransportAddressInput): TransportAddressInput {
    const address = canonicalIpAddress(peer.address);
    if (familyOf(address) !== familyOf(a.socket.address.address)) throw new TurnRequestError(ERROR.PEER_ADDRESS_FAMILY_MISMATCH, 'peer address family differs from the relayed address');
    const decision = checkPeer(address, this.#policy);
    if (!decision.allowed) {
      this.#log('info', 'turn.peer.refused', { userId: a.userId, peer: address, category: decision.category });
      throw new TurnRequestError(ERROR.FORBIDDEN, decision.reason);
    }
    return { address, port: peer.port };
  }

  #createPermission(a: Allocation, msg: StunMessage, key: Uint8Array): Uint8Array {
    const peers = readAttributes(msg, codecs.xorPeerAddress);
    if (peers.length === 0) throw new TurnRequestError(ERROR.BAD_REQUEST, 'XOR-PEER-ADDRESS is required');
    // All or nothing (RFC 8656 §10.2): check every peer before installing any.
    const checked = peers.map((p) => this.#checkedPeer(a, p));
    const expiresAt = this.#now() + this.#limits.permissionLifetimeS * 1000;
    for (const p of checked) a.permissions.set(p.address, expiresAt);
    return this.#response(msg, 'success', [], key);
  }

  #channelBind(a: Allocation, msg: StunMessage, key: Uint8Array): Uint8Array {
    const number = readAttribute(msg, codecs.channelNumber); // throws (→ 400) outside 0x4000–0x4FFF
    const peerAttr = readAttribute(msg, codecs.xorPeerAddress);
    if (number === undefined || peerAttr === undefined) throw new TurnRequestError(ERROR.BAD_REQUEST, 'CHANNEL-NUMBER and XOR-PEER-ADDRESS are required');
    const peer = this.#checkedPeer(a, peerAttr);
    const byNumber = a.channelsByNumber.get(number);
    const byPeer = a.channelsByPeer.get(peerKey(peer));
    // A channel is bound to one peer and a peer to one channel for the binding's life (§11.2).
    if ((byNumber && peerKey(byNumber.peer) !== peerKey(peer)) || (byPeer && byPeer.number !== number)) {
      throw new TurnRequestError(ERROR.BAD_REQUEST, 'channel or peer already bound differently');
    }
    const now = this.#now();
    const channel = byNumber ?? { number, peer, expiresAt: 0 };
    channel.expiresAt = now + this.#limits.channelLifetimeS * 1000;
    a.channelsByNumber.set(number, channel);
    a.channelsByPeer.set(peerKey(peer), channel);
    a.permissions.set(peer.address, now + this.#limits.permissionLifetimeS * 1000);
    return this.#response(msg, 'success', [], key);
  }

  // -------------------------------------------------------------------------------------------
  // data
  // -------------------------------------------------------------------------------------------

  #permitted(a: Allocation, address: string): boolean {
    const expiresAt = a.permissions.get(address);
    return expiresAt !== undefined && expiresAt > this.#now();
  }

  #indication(tuple: FiveTuple, msg: StunMessage): void {
    if (msg.method !== METHOD.SEND) return this.#drop('unknown_indication');
    const a = this.#allocations.get(tupleKey(tuple));
    if (!a) return this.#drop('no_allocation');
    let peer: TransportAddressInput | undefined;
    let data: Uint8Array | undefined;
    try {
      if (unknownComprehensionRequired(msg, UNDERSTOOD).length > 0) return this.#drop('malformed');
      peer = readAttribute(msg, codecs.xorPeerAddress);
      data = readAttribute(msg, codecs.data);
    } catch (e) {
      if (e instanceof StunError) return this.#drop('malformed');
      throw e;
    }
    if (!peer || !data) return this.#drop('malformed');
    const address = canonicalIpAddress(peer.address);
    if (!this.#permitted(a, address)) return this.#drop('no_permission');
    this.#toPeer(a, data, { address, port: peer.port });
  }

  #clientChannelData(tuple: FiveTuple, bytes: Uint8Array): void {
    const a = this.#allocations.get(tupleKey(tuple));
    if (!a) return this.#drop('no_allocation');
    let cd;
    try {
      cd = parseChannelData(bytes, 'udp');
    } catch (e) {
      if (e instanceof StunError) return this.#drop('malformed');
      throw e;
    }
    const channel = a.channelsByNumber.get(cd.channel);
    if (!channel || channel.expiresAt <= this.#now()) return this.#drop('unbound_channel');
    if (!this.#permitted(a, channel.peer.address)) return this.#drop('no_permission');
    this.#toPeer(a, cd.data, channel.peer);
  }

  #toPeer(a: Allocation, data: Uint8Array, peer: TransportAddressInput): void {
    try {
      a.socket.send(data, peer);
    } catch {
      return this.#drop('send_failed');
    }
    this.#bytesOut += data.length;
    this.#packetsOut++;
  }

  #peerPacket(a: Allocation, bytes: Uint8Array, from: TransportAddressInput): void {
    if (a.closed) return;
    const address = canonicalIpAddress(from.address);
    if (!this.#permitted(a, address)) return this.#drop('no_permission');
    const channel = a.channelsByPeer.get(peerKey({ address, port: from.port }));
    let out: Uint8Array;
    try {
      if (channel && channel.expiresAt > this.#now()) {
        out = buildChannelData(channel.number, bytes, 'udp');
      } else {
        const transactionId = randomBytes(12);
        out = buildStunMessage({
          method: METHOD.DATA,
          messageClass: 'indication',
          transactionId,
          attributes: [encodeAttribute(codecs.xorPeerAddress, { address, port: from.port }, transactionId), { type: ATTR.DATA, value: bytes }],
        });
      }
    } catch (e) {
      // Too large to wrap (a datagram near 64 KiB): nothing the client could receive anyway.
      if (e instanceof StunError) return this.#drop('malformed');
      throw e;
    }
    try {
      a.reply(out);
    } catch {
      return this.#drop('send_failed');
    }
    this.#bytesIn += bytes.length;
    this.#packetsIn++;
  }

  // -------------------------------------------------------------------------------------------
  // building answers
  // -------------------------------------------------------------------------------------------

  #response(msg: StunMessage, messageClass: 'success' | 'error', attributes: readonly StunAttributeInput[], key?: Uint8Array): Uint8Array {
    return buildStunMessage({ method: msg.method, messageClass, transactionId: msg.transactionId, attributes }, { integrityKey: key, fingerprint: true });
  }

  #error(msg: StunMessage, code: number, extra: readonly StunAttributeInput[], key?: Uint8Array): Uint8Array {
    return this.#response(msg, 'error', [encodeAttribute(codecs.errorCode, { code }), ...extra], key);
  }
}
