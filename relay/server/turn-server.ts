/**
 * The TURN allocation server (RFC 8656), independent of any runtime: it is handed messages from
 * clients (UDP datagrams, or frames cut from a TCP/TLS stream by TurnStreamFramer) and datagrams
 * from peers, and answers through callbacks, so the same logic sits behind node:dgram
 * (adapters/node/udp-turn.ts), node:net / node:tls (adapters/node/stream-turn.ts) or anything
 * else that moves bytes. The relayed side is always UDP (RFC 8656); the client side is UDP, TCP
 * or TLS (§3.1), and one server instance serves all of them, so quotas and metrics are shared.
 *
 * What it does: Binding; Allocate, Refresh, CreatePermission and ChannelBind with long-term
 * credentials of the TURN REST kind (credentials.ts: the password is derived from the username
 * and the shared secret, so the relay keeps no user table); Send and Data indications;
 * ChannelData both ways; quotas; the peer policy (policy/peer-address.ts) on every peer a client
 * names; metrics. The books (allocations by 5-tuple and relayed address, their permissions and
 * channel bindings, lifetimes and quotas) are kept by ./allocations.ts; this file is the protocol
 * around them: parsing, authentication, the checks each request makes, answers and data relaying.
 *
 * Decisions:
 * - Nonces are stateless: "<expiry seconds>.<hex HMAC-SHA256(nonce key, expiry)>", so a nonce
 *   costs no memory and a flood of unauthenticated requests cannot grow any table. The nonce key
 *   is random per server instance; a restart makes old nonces stale (438), which clients handle.
 * - No timers inside: the adapter calls sweep() (once a second) to expire allocations,
 *   permissions and channels, and now() is injected, so tests and other runtimes control time.
 * - Only UDP relaying (RFC 6062 TCP relaying draws 442). Relayed addresses are IPv4, IPv6 or
 *   both (RFC 8656 §7.2), as far as the adapter's `relayFamilies` allow: REQUESTED-ADDRESS-FAMILY
 *   picks one family (440 if this server has no relay address of it); ADDITIONAL-ADDRESS-FAMILY
 *   (IPv6) asks for a dual allocation, and when one family cannot be had the other is allocated
 *   alone with an ADDRESS-ERROR-CODE 440 for the missing one; both attributes at once, or an
 *   ADDITIONAL-ADDRESS-FAMILY other than IPv6, is 400. A peer of a family the allocation has no
 *   relayed address of is 443. A Refresh naming a family the allocation lacks is 443; otherwise
 *   a Refresh (also LIFETIME 0) applies to the whole allocation, both families together.
 * - EVEN-PORT is honoured by retrying sockets until the port is even (for the first family of
 *   the allocation); reserving the next port (its R bit) and RESERVATION-TOKEN are not
 *   supported (508 and 420). DONT-FRAGMENT is accepted and ignored.
 * - Channels (RFC 8656 §12): a channel number is bound to one peer and a peer to one number
 *   while the binding lives (a re-bind to anything else is 400), and for `channelQuarantineS`
 *   (5 minutes) after it expires: in that time the same number may be bound again to the same
 *   peer only, so data still in flight for an old binding never reaches a new peer.
 * - Over TCP/TLS the 5-tuple is the connection: the adapter calls closeTuple() when it ends,
 *   which deletes its allocation (§3.1). ChannelData to a stream client is padded to 4 bytes
 *   (§12.5). A stream client that does not read is the adapter's problem: its Reply returns
 *   false for data it refused to buffer, counted here as `client_backlog`.
 * - Everything that does not parse, or that a server must not answer (responses, indications it
 *   cannot act on), is dropped and counted by reason; nothing a client sends can throw out of
 *   handleClientPacket except a bug.
 * - Peers on the relay host itself (docs/decisions/0002-relay-peer-policy.md): the relayed transport
 *   address of a live allocation here is a permitted peer, address AND port, whatever the policy
 *   says of its IP (two relayed candidates meet that way); the permission or channel is tied to
 *   that allocation and dies with it, so a socket that later takes the port is not reachable.
 *   Every other port on the relay's own addresses (its listeners, other local services) is 403
 *   unless the allow-list names the address, even when the address is public.
 * - Quotas count allocations per principal: the TURN user id up to its first '.', i.e. the
 *   account or gateway UID the Router issued the credential for (router/relay/ice-servers.ts
 *   appends a random session label after the '.'), so fresh credentials do not give a fresh
 *   quota; and all allocations of the server together (`maxAllocations`). Both answer 486.
 * - Secrets (the shared secret, derived passwords, keys) are never logged; logs carry the REST
 *   user id at most.
 */
import { equalBytes, hmacSha256, randomBytes, toHex, utf8 } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import {
  encodeAttribute,
  codecs,
  readAttribute,
  readAttributes,
  UNDERSTOOD_ATTRIBUTES,
  canonicalIpAddress,
  type TransportAddressInput,
} from '../stun/attributes.ts';
import { buildChannelData, classifyPacket, parseChannelData } from '../stun/channel-data.ts';
import { ADDRESS_FAMILY, ATTR, ERROR, METHOD, TRANSPORT } from '../stun/constants.ts';
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
import { allowListed, checkPeer, type PeerPolicy } from '../policy/peer-address.ts';
import type { ClientTransport, FiveTuple, RelayFamily, RelaySocket, RelaySocketFactory, Reply, TurnLog } from './adapter-contract.ts';
import { AllocationTable, principalOf, relayedAddresses, type Allocation, type AllocationLimits, type CheckedPeer } from './allocations.ts';

// ---------------------------------------------------------------------------------------------
// what the adapter provides (./adapter-contract.ts)
// ---------------------------------------------------------------------------------------------

export {
  CLIENT_TRANSPORTS,
  type ClientTransport,
  type FiveTuple,
  type RelayFamily,
  type RelaySocket,
  type RelaySocketFactory,
  type Reply,
  type TurnLog,
} from './adapter-contract.ts';
export { principalOf } from './allocations.ts';

/** The table's limits (./allocations.ts: quotas, permission and channel lifetimes, channel quarantine), and the server's own. */
export interface TurnLimits extends AllocationLimits {
  readonly defaultLifetimeS: number;
  readonly maxLifetimeS: number;
  /** How long a nonce stays fresh before 438. */
  readonly nonceLifetimeS: number;
}

export const DEFAULT_TURN_LIMITS: TurnLimits = {
  maxAllocationsPerUser: 100,
  maxAllocations: 1000,
  defaultLifetimeS: 600,
  maxLifetimeS: 3600,
  permissionLifetimeS: 300,
  channelLifetimeS: 600,
  channelQuarantineS: 300,
  nonceLifetimeS: 3600,
};

export interface TurnServerOptions {
  readonly realm: string;
  /** The REST shared secret (coturn's use-auth-secret / static-auth-secret). Never logged. */
  readonly authSecret: string | Uint8Array;
  readonly peerPolicy: PeerPolicy;
  readonly relaySockets: RelaySocketFactory;
  /** Families the relay socket factory can open. Default ['ipv4']. */
  readonly relayFamilies?: readonly RelayFamily[] | undefined;
  /**
   * Addresses of the relay host that peers must not reach except at a live allocation's relayed
   * port: its listener addresses. The relayed sockets' own addresses are added by the server.
   */
  readonly ownAddresses?: readonly string[] | undefined;
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
  | 'send_failed'
  | 'client_backlog'; // a stream client that does not read: data to it shed (adapter's Reply returned false)

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'bad_fingerprint',
  'unexpected_class',
  'unknown_indication',
  'no_allocation',
  'no_permission',
  'unbound_channel',
  'allocation_pending',
  'send_failed',
  'client_backlog',
];

export interface TurnMetrics {
  readonly allocations: number;
  readonly allocationsByTransport: Readonly<Record<ClientTransport, number>>;
  /** Relayed sockets open, by family (a dual allocation has one of each). */
  readonly relayedSockets: Readonly<Record<RelayFamily, number>>;
  readonly bytesClientToPeer: number;
  readonly bytesPeerToClient: number;
  readonly packetsClientToPeer: number;
  readonly packetsPeerToClient: number;
  /** Of packetsClientToPeer, those whose peer was another allocation here (delivered without a socket). */
  readonly packetsHairpinned: number;
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  readonly authFailures: number;
  /** Allocate requests answered 486, by the quota that was full. */
  readonly quotaRefusals: Readonly<Record<QuotaScope, number>>;
}

/** 'principal': one account's or gateway's allocations; 'relay': the whole server's. */
export type QuotaScope = 'principal' | 'relay';
export const QUOTA_SCOPES: readonly QuotaScope[] = ['principal', 'relay'];

// ---------------------------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------------------------

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

const CANONICAL_CACHE_SIZE = 4096;

/** How many relayed sockets to try for an even port (EVEN-PORT) before answering 508. */
const EVEN_PORT_ATTEMPTS = 16;

function familyOf(address: string): RelayFamily {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

export class TurnServer {
  readonly #realm: string;
  readonly #secret: string | Uint8Array;
  readonly #policy: PeerPolicy;
  readonly #relaySockets: RelaySocketFactory;
  readonly #families: ReadonlySet<RelayFamily>;
  readonly #now: () => number;
  readonly #limits: TurnLimits;
  readonly #log: TurnLog;
  /** Signs nonces; random per instance, never leaves the process. */
  readonly #nonceKey = randomBytes(32);
  readonly #tidBase = randomBytes(12);
  #tidCounter = 0;
  readonly #canonicalCache = new Map<string, string>();

  /** Allocations, their permissions and channels (./allocations.ts). */
  readonly #allocations: AllocationTable;
  #closed = false;
  /** Canonical addresses of this relay host (listeners, relayed sockets): see #checkedPeer. */
  readonly #ownAddresses = new Set<string>();
  readonly #quotaRefusals: Record<QuotaScope, number> = { principal: 0, relay: 0 };

  #bytesOut = 0;
  #bytesIn = 0;
  #packetsOut = 0;
  #packetsIn = 0;
  #packetsHairpinned = 0;
  #authFailures = 0;
  readonly #dropped: Partial<Record<DropReason, number>> = {};

  constructor(options: TurnServerOptions) {
    this.#realm = options.realm;
    this.#secret = options.authSecret;
    this.#policy = options.peerPolicy;
    this.#relaySockets = options.relaySockets;
    this.#families = new Set(options.relayFamilies ?? ['ipv4']);
    this.#now = options.now ?? Date.now;
    this.#limits = { ...DEFAULT_TURN_LIMITS, ...options.limits };
    this.#allocations = new AllocationTable(this.#now, this.#limits);
    this.#log = options.log ?? (() => {});
    for (const address of options.ownAddresses ?? []) this.#ownAddresses.add(canonicalIpAddress(address));
  }

  /** Families this server relays on. */
  get relayFamilies(): readonly RelayFamily[] {
    return [...this.#families];
  }

  get metrics(): TurnMetrics {
    const byTransport: Record<ClientTransport, number> = { udp: 0, tcp: 0, tls: 0 };
    const sockets: Record<RelayFamily, number> = { ipv4: 0, ipv6: 0 };
    for (const a of this.#allocations.values()) {
      byTransport[a.transport]++;
      for (const f of a.sockets.keys()) sockets[f]++;
    }
    return {
      allocations: this.#allocations.size,
      allocationsByTransport: byTransport,
      relayedSockets: sockets,
      bytesClientToPeer: this.#bytesOut,
      bytesPeerToClient: this.#bytesIn,
      packetsClientToPeer: this.#packetsOut,
      packetsPeerToClient: this.#packetsIn,
      packetsHairpinned: this.#packetsHairpinned,
      dropped: { ...this.#dropped },
      authFailures: this.#authFailures,
      quotaRefusals: { ...this.#quotaRefusals },
    };
  }

  #drop(reason: DropReason): void {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
  }

  /**
   * The 5-tuple is gone (a TCP/TLS connection closed): its allocation, if any, ends with it
   * (RFC 8656 §3.1).
   */
  closeTuple(tuple: FiveTuple): void {
    const a = this.#allocations.get(tuple);
    if (a) this.#deleteAllocation(a, 'connection_closed');
    // An Allocate still opening its socket for this 5-tuple must not outlive the connection.
    this.#allocations.abandonPending(tuple);
  }

  /**
   * One message from a client (a datagram, or one frame of a stream). Data (ChannelData, Send
   * indications) is handled synchronously and gives undefined; a request gives a promise that
   * resolves once it is answered (Allocate waits for its relayed socket). Never throws or
   * rejects for anything the client sent.
   */
  handleClientPacket(tuple: FiveTuple, bytes: Uint8Array, reply: Reply): Promise<void> | undefined {
    // Synchronous for data (ChannelData, Send indications): no promise per relayed packet.
    const kind = classifyPacket(bytes);
    if (kind === 'channel_data') return void this.#clientChannelData(tuple, bytes);
    if (kind !== 'stun') return void this.#drop('malformed');
    let msg: StunMessage;
    try {
      msg = parseStunMessage(bytes);
    } catch (e) {
      if (e instanceof StunError) return void this.#drop('malformed');
      throw e;
    }
    // FINGERPRINT is optional; when present it must be right (RFC 8489 §7.3).
    const last = msg.attributes[msg.attributes.length - 1];
    if (last?.type === ATTR.FINGERPRINT && !verifyFingerprint(msg)) return void this.#drop('bad_fingerprint');
    if (msg.messageClass === 'indication') return void this.#indication(tuple, msg);
    if (msg.messageClass !== 'request') return void this.#drop('unexpected_class');
    return this.#request(tuple, msg, reply);
  }

  /** Ends every allocation whose lifetime ran out, and the permissions and channels within. */
  sweep(): void {
    for (const a of this.#allocations.sweep()) this.#logDeleted(a, 'expired');
  }

  /** Closes every relayed socket (server shutdown). */
  close(): void {
    this.#closed = true;
    for (const a of [...this.#allocations.values()]) this.#deleteAllocation(a, 'shutdown');
  }

  #deleteAllocation(a: Allocation, why: string): void {
    if (this.#allocations.delete(a)) this.#logDeleted(a, why);
  }

  #logDeleted(a: Allocation, why: string): void {
    this.#log('info', 'turn.allocation.deleted', { userId: a.userId, relayed: relayedAddresses(a), why });
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
      if (msg.method === METHOD.BINDING)
        return this.#send(reply, this.#response(msg, 'success', [encodeAttribute(codecs.xorMappedAddress, tuple.client, msg.transactionId)]));
      if (msg.method !== METHOD.ALLOCATE && msg.method !== METHOD.REFRESH && msg.method !== METHOD.CREATE_PERMISSION && msg.method !== METHOD.CHANNEL_BIND) {
        throw new TurnRequestError(ERROR.BAD_REQUEST, 'unknown method');
      }
      const auth = this.#authenticate(msg);
      key = auth.key;
      const existing = this.#allocations.get(tuple);
      if (msg.method === METHOD.ALLOCATE) {
        // A retransmission of the Allocate that created the allocation gets the same answer.
        if (existing && equalBytes(existing.allocateTransaction, msg.transactionId)) return this.#send(reply, existing.allocateResponse);
        return await this.#allocate(tuple, msg, reply, auth, existing);
      }
      if (!existing) throw new TurnRequestError(ERROR.ALLOCATION_MISMATCH, 'no allocation for this 5-tuple');
      // The allocation belongs to the credentials that made it (RFC 8656 §5).
      if (existing.username !== auth.username) throw new TurnRequestError(ERROR.WRONG_CREDENTIALS, 'not the credentials of this allocation');
      if (msg.method === METHOD.REFRESH) return this.#send(reply, this.#refresh(existing, msg, key));
      if (msg.method === METHOD.CREATE_PERMISSION) return this.#send(reply, this.#createPermission(existing, msg, key));
      return this.#send(reply, this.#channelBind(existing, msg, key));
    } catch (e) {
      if (e instanceof TurnRequestError) {
        if (e.stunCode === ERROR.UNAUTHENTICATED || e.stunCode === ERROR.STALE_NONCE) this.#authFailures++;
        else this.#log('info', 'turn.request.refused', { method: msg.method, code: e.stunCode, error: e.message });
        // 401 and 438 go unsigned: the client has no key we accept yet.
        const sign = e.stunCode !== ERROR.UNAUTHENTICATED && e.stunCode !== ERROR.STALE_NONCE ? key : undefined;
        this.#send(reply, this.#error(msg, e.stunCode, e.extra, sign));
        return;
      }
      if (e instanceof StunError) {
        // An attribute value that does not decode: the request is malformed.
        this.#log('info', 'turn.request.malformed', { method: msg.method, reason: e.reason, error: e.message });
        this.#send(reply, this.#error(msg, ERROR.BAD_REQUEST, [], key));
        return;
      }
      throw e;
    }
  }

  /** A control answer; a Reply that throws (socket gone) or refuses it is counted, not fatal. */
  #send(reply: Reply, bytes: Uint8Array): void {
    try {
      if (reply(bytes, 'control') === false) this.#drop('client_backlog');
    } catch {
      this.#drop('send_failed');
    }
  }

  #authenticate(msg: StunMessage): { username: string; userId: string; key: Uint8Array } {
    const challenge = (): StunAttributeInput[] => [encodeAttribute(codecs.realm, this.#realm), encodeAttribute(codecs.nonce, this.#issueNonce())];
    if (!getAttribute(msg, ATTR.MESSAGE_INTEGRITY)) throw new TurnRequestError(ERROR.UNAUTHENTICATED, 'no MESSAGE-INTEGRITY', challenge());
    const username = readAttribute(msg, codecs.username);
    const realm = readAttribute(msg, codecs.realm);
    const nonce = readAttribute(msg, codecs.nonce);
    if (username === undefined || realm === undefined || nonce === undefined)
      throw new TurnRequestError(ERROR.BAD_REQUEST, 'USERNAME, REALM and NONCE are required');
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

  async #allocate(
    tuple: FiveTuple,
    msg: StunMessage,
    reply: Reply,
    auth: { username: string; userId: string; key: Uint8Array },
    existing: Allocation | undefined,
  ): Promise<void> {
    if (existing) throw new TurnRequestError(ERROR.ALLOCATION_MISMATCH, 'an allocation already exists for this 5-tuple');
    if (this.#allocations.isPending(tuple)) return this.#drop('allocation_pending');
    const transport = readAttribute(msg, codecs.requestedTransport);
    if (transport === undefined) throw new TurnRequestError(ERROR.BAD_REQUEST, 'REQUESTED-TRANSPORT is required');
    if (transport !== TRANSPORT.UDP) throw new TurnRequestError(ERROR.UNSUPPORTED_TRANSPORT_PROTOCOL, 'only UDP relaying');
    const { families, addressErrors } = this.#allocationFamilies(msg);
    // EVEN-PORT (RFC 8656 §7.2): an even relayed port we can give by trying a few sockets; the
    // R bit asks us to also reserve the next port, which we do not do, so it draws 508 as the
    // RFC says for a request the server cannot satisfy.
    const evenPort = readAttribute(msg, codecs.evenPort);
    if (evenPort?.reserveNextPort) throw new TurnRequestError(ERROR.INSUFFICIENT_CAPACITY, 'port reservation is not supported');
    const principal = principalOf(auth.userId);
    const full = this.#allocations.quotaExceeded(principal);
    if (full?.scope === 'relay') {
      this.#quotaRefusals.relay++;
      this.#log('warn', 'turn.quota.relay_full', { userId: auth.userId, limit: full.limit });
      throw new TurnRequestError(ERROR.ALLOCATION_QUOTA_REACHED, `this relay holds its maximum of ${full.limit} allocations`);
    }
    if (full?.scope === 'principal') {
      this.#quotaRefusals.principal++;
      throw new TurnRequestError(ERROR.ALLOCATION_QUOTA_REACHED, `allocation quota reached: ${principal} holds ${full.held} allocations`);
    }
    const lifetime = this.#lifetime(msg);

    this.#allocations.startPending(tuple, principal);
    let allocation: Allocation | undefined;
    const sockets = new Map<RelayFamily, RelaySocket>();
    const onPacket = (bytes: Uint8Array, from: TransportAddressInput): void => {
      if (allocation) this.#peerPacket(allocation, bytes, from);
    };
    let abandoned = false;
    const closeAll = (): void => {
      for (const s of sockets.values()) s.close();
    };
    try {
      for (const [i, family] of families.entries()) {
        const even = evenPort !== undefined && i === 0;
        let socket: RelaySocket | undefined;
        for (let attempt = 0; attempt < (even ? EVEN_PORT_ATTEMPTS : 1) && !socket; attempt++) {
          const candidate = await this.#relaySockets(onPacket, family);
          if (even && candidate.address.port % 2 !== 0) candidate.close();
          else socket = candidate;
        }
        if (!socket) {
          closeAll();
          throw new TurnRequestError(ERROR.INSUFFICIENT_CAPACITY, 'no even relayed port');
        }
        sockets.set(family, socket);
      }
    } catch (e) {
      if (e instanceof TurnRequestError) throw e;
      closeAll();
      this.#log('warn', 'turn.relay_socket.failed', { error: e instanceof Error ? e.message : String(e) });
      throw new TurnRequestError(ERROR.INSUFFICIENT_CAPACITY, 'could not open a relayed socket');
    } finally {
      abandoned = this.#allocations.endPending(tuple);
    }
    // The server, or the client's connection, may have been closed while the socket was opening: do not leak it.
    if (this.#closed || abandoned) {
      closeAll();
      return;
    }
    const response = this.#response(
      msg,
      'success',
      [
        ...[...sockets.values()].map((s) => encodeAttribute(codecs.xorRelayedAddress, s.address, msg.transactionId)),
        ...addressErrors,
        encodeAttribute(codecs.xorMappedAddress, tuple.client, msg.transactionId),
        encodeAttribute(codecs.lifetime, lifetime),
      ],
      auth.key,
    );
    allocation = this.#allocations.add(
      tuple,
      {
        username: auth.username,
        userId: auth.userId,
        principal,
        integrityKey: auth.key,
        transport: tuple.transport ?? 'udp',
        sockets,
        reply,
        allocateTransaction: msg.transactionId.slice(),
        allocateResponse: response,
      },
      lifetime,
    );
    for (const socket of sockets.values()) this.#addOwnAddress(socket.address.address);
    this.#log('info', 'turn.allocation.created', {
      userId: auth.userId,
      transport: allocation.transport,
      client: tuple.client,
      relayed: relayedAddresses(allocation),
      lifetime,
    });
    this.#send(reply, response);
  }

  /**
   * The relayed families an Allocate asks for (RFC 8656 §7.2), in order, and ADDRESS-ERROR-CODE
   * attributes for a family of a dual request that this server cannot give.
   */
  #allocationFamilies(msg: StunMessage): { families: RelayFamily[]; addressErrors: StunAttributeInput[] } {
    const requested = readAttribute(msg, codecs.requestedAddressFamily);
    const additional = readAttribute(msg, codecs.additionalAddressFamily);
    const name = (n: number): RelayFamily | undefined => (n === ADDRESS_FAMILY.IPV4 ? 'ipv4' : n === ADDRESS_FAMILY.IPV6 ? 'ipv6' : undefined);
    if (requested !== undefined && additional !== undefined)
      throw new TurnRequestError(ERROR.BAD_REQUEST, 'REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY together');
    if (additional !== undefined) {
      if (additional !== ADDRESS_FAMILY.IPV6) throw new TurnRequestError(ERROR.BAD_REQUEST, 'ADDITIONAL-ADDRESS-FAMILY must be IPv6');
      const families = (['ipv4', 'ipv6'] as const).filter((f) => this.#families.has(f));
      if (families.length === 0) throw new TurnRequestError(ERROR.ADDRESS_FAMILY_NOT_SUPPORTED, 'no relay address of either family');
      const addressErrors = (['ipv4', 'ipv6'] as const)
        .filter((f) => !this.#families.has(f))
        .map((f) =>
          encodeAttribute(codecs.addressErrorCode, {
            family: f === 'ipv4' ? ADDRESS_FAMILY.IPV4 : ADDRESS_FAMILY.IPV6,
            code: ERROR.ADDRESS_FAMILY_NOT_SUPPORTED,
          }),
        );
      return { families, addressErrors };
    }
    const family = requested === undefined ? 'ipv4' : name(requested);
    if (!family || !this.#families.has(family))
      throw new TurnRequestError(ERROR.ADDRESS_FAMILY_NOT_SUPPORTED, `this relay has no ${family ?? 'such'} relay address`);
    return { families: [family], addressErrors: [] };
  }

  #refresh(a: Allocation, msg: StunMessage, key: Uint8Array): Uint8Array {
    const family = readAttribute(msg, codecs.requestedAddressFamily);
    if (family !== undefined) {
      const f = family === ADDRESS_FAMILY.IPV4 ? 'ipv4' : family === ADDRESS_FAMILY.IPV6 ? 'ipv6' : undefined;
      if (!f || !a.sockets.has(f)) throw new TurnRequestError(ERROR.PEER_ADDRESS_FAMILY_MISMATCH, 'the allocation has no relayed address of that family');
    }
    const requested = readAttribute(msg, codecs.lifetime);
    if (requested === 0) {
      this.#deleteAllocation(a, 'refresh_zero');
      return this.#response(msg, 'success', [encodeAttribute(codecs.lifetime, 0)], key);
    }
    const lifetime = this.#lifetime(msg);
    this.#allocations.refresh(a, lifetime);
    return this.#response(msg, 'success', [encodeAttribute(codecs.lifetime, lifetime)], key);
  }

  #addOwnAddress(address: string): void {
    try {
      this.#ownAddresses.add(this.#canonical(address));
    } catch {
      // Not an IP address (a test double's socket): nothing a peer could name.
    }
  }

  /**
   * The peer's address canonicalised, after the family check (443) and the policy (403). An
   * address of this relay host is refused unless the allow-list names it, even a public one:
   * its listeners and other local services are not for relaying to. A peer the policy refuses
   * is still allowed when it is exactly the relayed address of a live allocation here: then
   * `local` names that allocation, and the permission is for that port only.
   */
  #checkedPeer(a: Allocation, peer: TransportAddressInput): CheckedPeer {
    const address = this.#canonical(peer.address);
    if (!a.sockets.has(familyOf(address)))
      throw new TurnRequestError(ERROR.PEER_ADDRESS_FAMILY_MISMATCH, 'peer address family differs from the relayed address');
    const own = this.#ownAddresses.has(address) && !allowListed(address, this.#policy);
    const decision = own
      ? {
          allowed: false as const,
          category: 'relay-host',
          reason: `the relay does not forward to its own address ${address} except to the relayed address of a live allocation (port ${peer.port} is not one)`,
        }
      : checkPeer(address, this.#policy);
    if (decision.allowed) return { address, port: peer.port };
    const local = this.#allocations.liveAtRelayedAddress({ address, port: peer.port });
    if (local) return { address, port: peer.port, local };
    this.#log('info', 'turn.peer.refused', { userId: a.userId, peer: address, port: peer.port, category: decision.category });
    throw new TurnRequestError(ERROR.FORBIDDEN, decision.reason);
  }

  #createPermission(a: Allocation, msg: StunMessage, key: Uint8Array): Uint8Array {
    const peers = readAttributes(msg, codecs.xorPeerAddress);
    if (peers.length === 0) throw new TurnRequestError(ERROR.BAD_REQUEST, 'XOR-PEER-ADDRESS is required');
    // All or nothing (RFC 8656 §10.2): check every peer before installing any.
    const checked = peers.map((p) => this.#checkedPeer(a, p));
    this.#allocations.permit(a, checked);
    return this.#response(msg, 'success', [], key);
  }

  #channelBind(a: Allocation, msg: StunMessage, key: Uint8Array): Uint8Array {
    const number = readAttribute(msg, codecs.channelNumber); // throws (→ 400) outside 0x4000–0x4FFF
    const peerAttr = readAttribute(msg, codecs.xorPeerAddress);
    if (number === undefined || peerAttr === undefined) throw new TurnRequestError(ERROR.BAD_REQUEST, 'CHANNEL-NUMBER and XOR-PEER-ADDRESS are required');
    const peer = this.#checkedPeer(a, peerAttr);
    // A channel is bound to one peer and a peer to one channel for the binding's life (§11.2),
    // and through its quarantine after (§12).
    const binding = this.#allocations.bindChannel(a, number, peer);
    if (binding !== 'bound') {
      const quarantined = binding === 'quarantined';
      this.#log('info', 'turn.channel.conflict', { userId: a.userId, channel: number, quarantined });
      throw new TurnRequestError(
        ERROR.BAD_REQUEST,
        quarantined ? 'channel or peer was bound differently less than 5 minutes ago' : 'channel or peer already bound differently',
      );
    }
    return this.#response(msg, 'success', [], key);
  }

  // -------------------------------------------------------------------------------------------
  // data
  // -------------------------------------------------------------------------------------------

  /**
   * canonicalIpAddress, memoised: the data path sees the same few peer addresses over and over.
   * Bounded: the cache is emptied when it reaches CANONICAL_CACHE_SIZE entries.
   */
  #canonical(address: string): string {
    let c = this.#canonicalCache.get(address);
    if (c === undefined) {
      c = canonicalIpAddress(address); // throws StunError for text that is no address: nothing cached
      if (this.#canonicalCache.size >= CANONICAL_CACHE_SIZE) this.#canonicalCache.clear();
      this.#canonicalCache.set(address, c);
    }
    return c;
  }

  /**
   * Transaction ids of the Data indications the server sends: a random 8-byte prefix per server
   * and a 32-bit counter. An indication's id only has to be unique enough for the XOR of an IPv6
   * address (no answer is matched against it), and a CSPRNG call per relayed packet is a
   * measurable share of the data path.
   */
  #indicationTransactionId(): Uint8Array {
    const id = this.#tidBase.slice();
    const n = (this.#tidCounter = (this.#tidCounter + 1) >>> 0);
    id[8] = n >>> 24;
    id[9] = (n >>> 16) & 0xff;
    id[10] = (n >>> 8) & 0xff;
    id[11] = n & 0xff;
    return id;
  }

  #indication(tuple: FiveTuple, msg: StunMessage): void {
    if (msg.method !== METHOD.SEND) return this.#drop('unknown_indication');
    const a = this.#allocations.get(tuple);
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
    const address = this.#canonical(peer.address);
    if (!this.#allocations.permitted(a, address, peer.port)) return this.#drop('no_permission');
    this.#toPeer(a, data, { address, port: peer.port });
  }

  #clientChannelData(tuple: FiveTuple, bytes: Uint8Array): void {
    const a = this.#allocations.get(tuple);
    if (!a) return this.#drop('no_allocation');
    let cd: ReturnType<typeof parseChannelData>;
    try {
      cd = parseChannelData(bytes, a.transport === 'udp' ? 'udp' : 'tcp');
    } catch (e) {
      if (e instanceof StunError) return this.#drop('malformed');
      throw e;
    }
    const channel = this.#allocations.liveChannel(a, cd.channel);
    if (!channel) return this.#drop('unbound_channel');
    if (!this.#allocations.permitted(a, channel.peer.address, channel.peer.port)) return this.#drop('no_permission');
    this.#toPeer(a, cd.data, channel.peer);
  }

  #toPeer(a: Allocation, data: Uint8Array, peer: TransportAddressInput): void {
    const socket = a.sockets.get(familyOf(peer.address));
    if (!socket) return this.#drop('no_permission');
    // Hairpin: the peer is another allocation's relayed address on this server (two relayed
    // candidates meeting: the usual path when both the CLI and the gateway are behind NAT).
    // Hand the packet to that allocation as if it had arrived on its socket from ours — the same
    // checks (its permissions) and the same result, without a datagram through the kernel and
    // back, which is most of what relaying it costs (measured: test/bench/tunnel, relay row).
    const local = this.#allocations.liveAtRelayedAddress(peer);
    if (local && local !== a) {
      this.#bytesOut += data.length;
      this.#packetsOut++;
      this.#packetsHairpinned++;
      this.#peerPacket(local, data, socket.address);
      return;
    }
    try {
      socket.send(data, peer);
    } catch {
      return this.#drop('send_failed');
    }
    this.#bytesOut += data.length;
    this.#packetsOut++;
  }

  #peerPacket(a: Allocation, bytes: Uint8Array, from: TransportAddressInput): void {
    if (a.closed) return;
    const address = this.#canonical(from.address);
    if (!this.#allocations.permitted(a, address, from.port)) return this.#drop('no_permission');
    const channel = this.#allocations.liveChannelTo(a, { address, port: from.port });
    let out: Uint8Array;
    try {
      if (channel) {
        out = buildChannelData(channel.number, bytes, a.transport === 'udp' ? 'udp' : 'tcp');
      } else {
        const transactionId = this.#indicationTransactionId();
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
      if (a.reply(out, 'data') === false) return this.#drop('client_backlog');
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
