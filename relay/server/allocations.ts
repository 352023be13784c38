/**
 * The TURN server's allocation table (RFC 8656 §5, §9, §12), kept apart from the protocol
 * handling in ./turn-server.ts as coturn keeps ns_turn_allocation apart from its server: the
 * allocations by 5-tuple and by relayed transport address, the Allocates still waiting for their
 * relayed sockets, the quotas, and within each allocation its permissions and channel bindings
 * with their lifetimes (and a channel's quarantine after it expires).
 *
 * No I/O and no timers, like the server: time comes from the injected clock, and the server's
 * sweep() calls sweep() here once a second. What a request may ask for (the peer policy, the
 * attributes, the answers) is decided by the server; this table only keeps the books. Deleting
 * an allocation closes its relayed sockets, which the allocation owns.
 */
import { canonicalIpAddress, type TransportAddressInput } from '../stun/attributes.ts';
import type { ClientTransport, FiveTuple, RelayFamily, RelaySocket, Reply } from './adapter-contract.ts';

/** The limits the table enforces (part of TurnLimits). */
export interface AllocationLimits {
  /**
   * Concurrent allocations one principal may hold (486 beyond): the account or gateway, i.e. the
   * REST user id up to its first '.', however many credentials it was issued.
   */
  readonly maxAllocationsPerUser: number;
  /** Concurrent allocations of the whole server, every principal together (486 beyond). */
  readonly maxAllocations: number;
  readonly permissionLifetimeS: number;
  readonly channelLifetimeS: number;
  /** After a channel binding expires, how long its number and peer stay reserved to each other (RFC 8656 §12: 5 minutes). */
  readonly channelQuarantineS: number;
}

export interface Channel {
  readonly number: number;
  readonly peer: TransportAddressInput;
  /** After this the channel carries nothing; it stays in the maps (quarantined) until sweep removes it. */
  expiresAt: number;
}

/** What the server knows of an allocation when its relayed sockets are open (see AllocationTable.add). */
export interface NewAllocation {
  readonly username: string;
  readonly userId: string;
  /** Whose quota the allocation counts against (see principalOf). */
  readonly principal: string;
  readonly integrityKey: Uint8Array;
  readonly transport: ClientTransport;
  /** One relayed socket per family allocated (RFC 8656 §7.2 dual allocations have two). */
  readonly sockets: ReadonlyMap<RelayFamily, RelaySocket>;
  readonly reply: Reply;
  /** The Allocate's transaction id and success response, replayed to a retransmission. */
  readonly allocateTransaction: Uint8Array;
  readonly allocateResponse: Uint8Array;
}

export interface Allocation extends NewAllocation {
  readonly key: string;
  expiresAt: number;
  /** Canonical peer IP → expiry (ms). Permissions are per IP, not per port (RFC 8656 §9). */
  readonly permissions: Map<string, number>;
  /**
   * "ip|port" of another live allocation's relayed address here → that allocation and the expiry:
   * the only way to reach an address the policy refuses (see the server's #checkedPeer), and only
   * while the allocation it names lives.
   */
  readonly localPermissions: Map<string, LocalPermission>;
  /** Live and quarantined channels. */
  readonly channelsByNumber: Map<number, Channel>;
  /** "ip|port" → channel (live and quarantined). */
  readonly channelsByPeer: Map<string, Channel>;
  closed: boolean;
}

interface LocalPermission {
  readonly target: Allocation;
  expiresAt: number;
}

/** A peer the server has checked; `local` when it is reachable only as a live allocation's relayed address. */
export interface CheckedPeer extends TransportAddressInput {
  readonly local?: Allocation | undefined;
}

/** Which quota an Allocate would exceed: the whole relay's, or its principal's (with what it holds). */
export type QuotaExceeded = { readonly scope: 'relay'; readonly limit: number } | { readonly scope: 'principal'; readonly held: number };

/** How a ChannelBind went: bound (or refreshed), or refused because the number or the peer is bound to another, live or quarantined. */
export type ChannelBinding = 'bound' | 'conflict' | 'quarantined';

/**
 * The principal of a REST user id: up to its first '.'. The Router's ids are "<uid>.<label>"
 * (UIDs are base64url, without '.'); an id without '.' is its own principal.
 */
export function principalOf(userId: string): string {
  const dot = userId.indexOf('.');
  return dot < 0 ? userId : userId.slice(0, dot);
}

export function tupleKey(t: FiveTuple): string {
  return `${t.transport ?? 'udp'}|${t.serverPort ?? 0}|${t.client.address}|${t.client.port}`;
}

export function peerKey(p: TransportAddressInput): string {
  return `${p.address}|${p.port}`;
}

export function relayedAddresses(a: Allocation): TransportAddressInput[] {
  return [...a.sockets.values()].map((s) => s.address);
}

/** peerKey of a relayed socket's address, in the canonical spelling peers arrive in. */
function relayedKey(address: TransportAddressInput): string {
  try {
    return peerKey({ address: canonicalIpAddress(address.address), port: address.port });
  } catch {
    return peerKey(address);
  }
}

export class AllocationTable {
  readonly #now: () => number;
  readonly #limits: AllocationLimits;
  readonly #byTuple = new Map<string, Allocation>();
  /** Allocations by relayed transport address (peerKey), for hairpinned packets and local peers. */
  readonly #byRelayedAddress = new Map<string, Allocation>();
  /** 5-tuples whose Allocate is waiting for its relayed socket, and their principals. */
  readonly #pending = new Map<string, string>();
  /** Pending 5-tuples whose connection closed meanwhile (abandonPending). */
  readonly #abandoned = new Set<string>();

  /** `now`: milliseconds since the epoch. */
  constructor(now: () => number, limits: AllocationLimits) {
    this.#now = now;
    this.#limits = limits;
  }

  // -------------------------------------------------------------------------------------------
  // allocations
  // -------------------------------------------------------------------------------------------

  get size(): number {
    return this.#byTuple.size;
  }

  values(): IterableIterator<Allocation> {
    return this.#byTuple.values();
  }

  get(tuple: FiveTuple): Allocation | undefined {
    return this.#byTuple.get(tupleKey(tuple));
  }

  /** The live allocation whose relayed transport address is `peer` (canonical address), if any. */
  liveAtRelayedAddress(peer: TransportAddressInput): Allocation | undefined {
    const a = this.#byRelayedAddress.get(peerKey(peer));
    return a && !a.closed ? a : undefined;
  }

  /** Which quota a new allocation of `principal` would exceed, counting the pending ones; undefined when there is room. */
  quotaExceeded(principal: string): QuotaExceeded | undefined {
    if (this.#byTuple.size + this.#pending.size >= this.#limits.maxAllocations) return { scope: 'relay', limit: this.#limits.maxAllocations };
    let held = 0;
    for (const a of this.#byTuple.values()) if (a.principal === principal) held++;
    for (const p of this.#pending.values()) if (p === principal) held++;
    return held >= this.#limits.maxAllocationsPerUser ? { scope: 'principal', held } : undefined;
  }

  /** Records an allocation whose relayed sockets are open, for `lifetimeS` seconds from now. */
  add(tuple: FiveTuple, init: NewAllocation, lifetimeS: number): Allocation {
    const allocation: Allocation = {
      ...init,
      key: tupleKey(tuple),
      expiresAt: this.#now() + lifetimeS * 1000,
      permissions: new Map(),
      localPermissions: new Map(),
      channelsByNumber: new Map(),
      channelsByPeer: new Map(),
      closed: false,
    };
    this.#byTuple.set(allocation.key, allocation);
    for (const socket of allocation.sockets.values()) this.#byRelayedAddress.set(relayedKey(socket.address), allocation);
    return allocation;
  }

  refresh(a: Allocation, lifetimeS: number): void {
    a.expiresAt = this.#now() + lifetimeS * 1000;
  }

  /** Ends an allocation and closes its relayed sockets. False when it had already ended. */
  delete(a: Allocation): boolean {
    if (a.closed) return false;
    a.closed = true;
    this.#byTuple.delete(a.key);
    for (const socket of a.sockets.values()) {
      const key = relayedKey(socket.address);
      if (this.#byRelayedAddress.get(key) === a) this.#byRelayedAddress.delete(key);
      try {
        socket.close();
      } catch {
        // Already closed: nothing to release.
      }
    }
    return true;
  }

  /**
   * Ends every allocation whose lifetime ran out (returned, for the server to log), and within the
   * others drops expired permissions and channels whose quarantine is over.
   */
  sweep(): Allocation[] {
    const now = this.#now();
    const expired: Allocation[] = [];
    for (const a of this.#byTuple.values()) {
      if (a.expiresAt <= now) {
        if (this.delete(a)) expired.push(a);
        continue;
      }
      for (const [ip, expiresAt] of a.permissions) if (expiresAt <= now) a.permissions.delete(ip);
      for (const [key, p] of a.localPermissions) if (p.expiresAt <= now || p.target.closed) a.localPermissions.delete(key);
      const quarantineMs = this.#limits.channelQuarantineS * 1000;
      for (const c of a.channelsByNumber.values()) {
        if (c.expiresAt + quarantineMs <= now) {
          a.channelsByNumber.delete(c.number);
          a.channelsByPeer.delete(peerKey(c.peer));
        }
      }
    }
    return expired;
  }

  // -------------------------------------------------------------------------------------------
  // Allocates waiting for their relayed sockets
  // -------------------------------------------------------------------------------------------

  isPending(tuple: FiveTuple): boolean {
    return this.#pending.has(tupleKey(tuple));
  }

  /** An Allocate of `principal` starts opening its relayed sockets; it counts against the quotas until endPending. */
  startPending(tuple: FiveTuple, principal: string): void {
    this.#pending.set(tupleKey(tuple), principal);
  }

  /** The 5-tuple's connection closed: an Allocate still opening its sockets for it must not outlive it. */
  abandonPending(tuple: FiveTuple): void {
    const key = tupleKey(tuple);
    if (this.#pending.has(key)) this.#abandoned.add(key);
  }

  /** The Allocate is done waiting (sockets open, or failed); true when its 5-tuple was abandoned meanwhile. */
  endPending(tuple: FiveTuple): boolean {
    const key = tupleKey(tuple);
    this.#pending.delete(key);
    return this.#abandoned.delete(key);
  }

  // -------------------------------------------------------------------------------------------
  // permissions
  // -------------------------------------------------------------------------------------------

  /** Installs (or refreshes) a permission for each peer, for permissionLifetimeS from now. */
  permit(a: Allocation, peers: readonly CheckedPeer[]): void {
    const expiresAt = this.#now() + this.#limits.permissionLifetimeS * 1000;
    for (const peer of peers) this.#permit(a, peer, expiresAt);
  }

  #permit(a: Allocation, peer: CheckedPeer, expiresAt: number): void {
    if (peer.local) a.localPermissions.set(peerKey(peer), { target: peer.local, expiresAt });
    else a.permissions.set(peer.address, expiresAt);
  }

  /** An IP permission (RFC 8656 §9), or a live allocation's relayed address exactly (a local permission). */
  permitted(a: Allocation, address: string, port: number): boolean {
    const now = this.#now();
    const expiresAt = a.permissions.get(address);
    if (expiresAt !== undefined && expiresAt > now) return true;
    if (a.localPermissions.size === 0) return false;
    const p = a.localPermissions.get(peerKey({ address, port }));
    return p !== undefined && p.expiresAt > now && !p.target.closed;
  }

  // -------------------------------------------------------------------------------------------
  // channels
  // -------------------------------------------------------------------------------------------

  /**
   * Binds channel `number` to `peer` (or refreshes that binding) for channelLifetimeS, and
   * permits the peer. A channel is bound to one peer and a peer to one channel for the binding's
   * life (RFC 8656 §11.2); an expired binding stays in the maps through its quarantine (§12) and
   * refuses the same way.
   */
  bindChannel(a: Allocation, number: number, peer: CheckedPeer): ChannelBinding {
    const byNumber = a.channelsByNumber.get(number);
    const byPeer = a.channelsByPeer.get(peerKey(peer));
    const now = this.#now();
    const conflict = byNumber && peerKey(byNumber.peer) !== peerKey(peer) ? byNumber : byPeer && byPeer.number !== number ? byPeer : undefined;
    if (conflict) return conflict.expiresAt <= now ? 'quarantined' : 'conflict';
    const channel = byNumber ?? { number, peer: { address: peer.address, port: peer.port }, expiresAt: 0 };
    channel.expiresAt = now + this.#limits.channelLifetimeS * 1000;
    a.channelsByNumber.set(number, channel);
    a.channelsByPeer.set(peerKey(peer), channel);
    this.#permit(a, peer, now + this.#limits.permissionLifetimeS * 1000);
    return 'bound';
  }

  /** The channel bound to `number`, unless it has expired. */
  liveChannel(a: Allocation, number: number): Channel | undefined {
    const channel = a.channelsByNumber.get(number);
    return channel && channel.expiresAt > this.#now() ? channel : undefined;
  }

  /** The channel bound to `peer` (canonical address), unless it has expired. */
  liveChannelTo(a: Allocation, peer: TransportAddressInput): Channel | undefined {
    const channel = a.channelsByPeer.get(peerKey(peer));
    return channel && channel.expiresAt > this.#now() ? channel : undefined;
  }
}
