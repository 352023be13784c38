/**
 * Runtime patches to werift 0.24.4's data-channel hot path, applied once per process by
 * `applyWeriftTuning()` (idempotent; `createPeerConnection` in ./peer.ts calls it).
 *
 * Why runtime patches and not patch files: werift ships two builds (an ESM bundle
 * `lib/index.mjs`, which is what our ESM code loads, and CJS files under `lib/*\/src`). A
 * patch-package style diff would have to touch both, would need a postinstall hook that
 * `npm ci` runs (and that our allowScripts policy would have to allow), and would silently
 * stop applying on a version bump. Runtime patches only touch the classes the bundle really
 * uses: the ones it exports (`UdpTransport`, `Connection`, `RTCSctpTransport`, `RTCDtlsTransport`)
 * directly, and the one it does not (the SCTP association, and its chunk
 * classes) through the first instance an `RTCSctpTransport` creates. Each patch checks the
 * shape it expects and is skipped (and reported in `weriftTuningReport()`) when werift
 * changes, leaving werift's own code in place; nothing edits node_modules. werift is pinned
 * (0.24.4): re-run `npx vitest run node/webrtc` on any upgrade.
 *
 * Every patch is standards-compliant on the wire: the peer (Chromium, unpatched werift) cannot
 * tell the difference except that we acknowledge less often (still within RFC 4960 §6.2) and
 * recover from loss sooner (RTO.Min configured lower, as RFC 4960 §15 allows). One patch changes
 * what is sent, and only towards a peer that asked for it: sctp-path-mtu probes the path with
 * padded HEARTBEATs (RFC 8899 §6.2.1) and then sends packets up to the size confirmed, when the
 * caller (the tunnel code) says the peer declared it accepts them.
 *
 * Measured and not shipped: a KeyObject per DTLS epoch (no measurable gain on Node 20.20), a
 * larger SCTP receive window (4 MiB: overflowed the socket buffer and made werift's O(window)
 * loss recovery dominate), and letting a SACK transmit before the data channel's flush (werift
 * awaits `onSackReceived` → `dataChannelFlush` before `transmit`; with sctp-send-completion in
 * place, not doing so measured no better: 4.4–5.1 vs 5.4–5.7 MB per CPU-second).
 *
 * werift itself is Node-only, and so is this module (node/): the DTLS fast path uses Node's
 * `crypto`, the UDP patch `dns`.
 */
import { Connection, crc32c, Message, RTCDtlsTransport, RTCSctpTransport, TurnProtocol, UdpTransport } from 'werift';
import * as nodeCryptoModule from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { nodeHostNetwork, sctpPacketCeiling, DEFAULT_SCTP_PACKET } from './path-mtu.ts';
import { adjustCongestionWindow, discoverPathMtu, pathMtuState, snapshotBeforeSack, takeProbeAck, userDataMax } from './sctp-path-mtu.ts';

/** What was applied, by name, with a reason when a patch was skipped. */
export interface WeriftTuningReport {
  applied: string[];
  skipped: { name: string; reason: string }[];
}

export interface WeriftTuningOptions {
  /**
   * UDP socket SO_RCVBUF/SO_SNDBUF for every socket werift opens (ICE host sockets and TURN
   * client sockets). Linux clamps this to net.core.rmem_max / wmem_max (and reports twice the
   * value it accepted). Default 4 MiB.
   */
  udpBufferBytes?: number;
  /**
   * Apply only these patches (benchmarks use it to measure each one; production passes
   * nothing and gets all). Only honoured by the first call in a process.
   */
  only?: readonly PatchName[];
}

/** Patch names, for reports and tests. */
export const PATCHES = [
  'ice-no-implicit-stun',
  'udp-socket-buffers',
  'udp-send-isip-cache',
  'dtls-record-fastpath',
  'sctp-packet-fastpath',
  'sctp-sack-coalescing',
  'sctp-tsn-tracking',
  'sctp-send-completion',
  'sctp-rto-min',
  'sctp-retransmit-scan',
  'sctp-path-mtu',
  'turn-channel-fastpath',
  'turn-release-on-close',
] as const;
export type PatchName = (typeof PATCHES)[number];

const DEFAULT_UDP_BUFFER = 4 * 1024 * 1024;

/** Mutable settings read by the patched code (so a later call can change them). */
export const tuningSettings = {
  udpBufferBytes: DEFAULT_UDP_BUFFER,
  /** SCTP RTO.Min in seconds (werift: 1 s, RFC 4960's recommended default). */
  sctpRtoMinSeconds: 0.2,
};

/** Patches in effect (read by hooks that serve several patches). */
const enabled = new Set<PatchName>();

const MARK = Symbol.for('postern.werift-tuning');
let report: WeriftTuningReport | undefined;

type AnyFn = (this: any, ...args: any[]) => any;
// werift's classes are typed for their public API only; the patches work on internals.
type Proto = Record<string | symbol, any>;

/**
 * Replaces `proto[method]` with `make(original)`, once per (method, tag): a method wrapped by
 * two patches (transmitOnce) carries both tags, so re-applying either is a no-op.
 */
function wrap(proto: Proto, method: string, make: (original: AnyFn) => AnyFn, tag = 'default'): void {
  const original = proto[method];
  if (typeof original !== 'function') throw new Error(`werift shape changed: ${method} is not a method`);
  const tags: Set<string> | undefined = original[MARK];
  if (tags?.has(tag)) return;
  const patched = make(original);
  (patched as any)[MARK] = new Set([...(tags ?? []), tag]);
  proto[method] = patched;
}

/**
 * Applies all patches once. Later calls only update `tuningSettings` and return the first
 * report. Safe to call from several modules.
 */
export function applyWeriftTuning(options: WeriftTuningOptions = {}): WeriftTuningReport {
  if (options.udpBufferBytes !== undefined) tuningSettings.udpBufferBytes = options.udpBufferBytes;
  if (report) return report;
  const r: WeriftTuningReport = { applied: [], skipped: [] };
  const attempt = (name: PatchName, fn: () => void) => {
    if (options.only && !options.only.includes(name)) {
      r.skipped.push({ name, reason: 'not selected' });
      return;
    }
    try {
      enabled.add(name);
      fn();
      r.applied.push(name);
    } catch (e) {
      enabled.delete(name);
      r.skipped.push({ name, reason: e instanceof Error ? e.message : String(e) });
    }
  };
  attempt('ice-no-implicit-stun', patchNoImplicitStun);
  attempt('udp-socket-buffers', patchUdpSocketBuffers);
  attempt('udp-send-isip-cache', patchUdpSocketBuffers);
  attempt('dtls-record-fastpath', patchDtlsRecordFastPath);
  attempt('turn-channel-fastpath', patchTurnChannelFastPath);
  attempt('turn-release-on-close', patchTurnReleaseOnClose);
  // The SCTP association class is not exported by the bundle: these are installed on the
  // prototype of the first association an RTCSctpTransport creates (and per instance where
  // werift uses instance fields).
  for (const name of ['sctp-packet-fastpath', 'sctp-sack-coalescing', 'sctp-tsn-tracking', 'sctp-send-completion', 'sctp-rto-min', 'sctp-retransmit-scan', 'sctp-path-mtu'] as const) {
    attempt(name, patchSctpHook);
  }
  report = r;
  return r;
}

/** The report of the first `applyWeriftTuning()` call, if any. */
export function weriftTuningReport(): WeriftTuningReport | undefined {
  return report;
}

// ---------------------------------------------------------------------------------------------
// ice-no-implicit-stun
//
// werift: `new Connection()` sets `stunServer = validateAddress(options.stunServer) ??
// ['stun.l.google.com', 19302]`, so a peer configured with no STUN server still sends a STUN
// Binding request to Google while gathering (a privacy leak for a PAM gateway).
// We: before gathering, drop the implicit default when the caller configured no STUN server.
// Standards: gathering without a STUN server is normal ICE (host + relay candidates only).
// ---------------------------------------------------------------------------------------------
function patchNoImplicitStun(): void {
  wrap(Connection.prototype as unknown as Proto, 'getCandidatePromises', (original) =>
    function (this: any, ...args: any[]) {
      if (this.options && !this.options.stunServer) this.stunServer = undefined;
      return original.apply(this, args);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// udp-socket-buffers (+ udp-send-isip-cache)
//
// werift: `UdpTransport` creates its dgram socket with Node's defaults (SO_RCVBUF ~208 KiB on
// Linux) and has no option to change them; under load the kernel drops datagrams, and each loss
// costs an SCTP retransmission timeout. It also runs `net.isIP(address)` (a regular expression)
// on every datagram sent.
// We: after the socket is bound, raise the receive and send buffers (clamped by the kernel's
// rmem_max/wmem_max), and replace the per-instance `send` with one that remembers which
// destination strings are IP literals, and resolves a host name (a TURN server given by name,
// which werift resolves per datagram) once a minute instead of per datagram.
// Standards: socket options are local; nothing on the wire changes.
// ---------------------------------------------------------------------------------------------
function patchUdpSocketBuffers(): void {
  wrap(UdpTransport.prototype as unknown as Proto, 'init', (original) =>
    async function (this: any, ...args: any[]) {
      const result = await original.apply(this, args);
      if (enabled.has('udp-socket-buffers')) raiseSocketBuffers(this.socket, tuningSettings.udpBufferBytes);
      if (enabled.has('udp-send-isip-cache')) installFastUdpSend(this);
      return result;
    },
  );
}

/** Best effort: some platforms refuse large buffers; werift keeps working with the default. */
export function raiseSocketBuffers(socket: { setRecvBufferSize(n: number): void; setSendBufferSize(n: number): void }, bytes: number): void {
  if (!(bytes > 0)) return;
  try {
    socket.setRecvBufferSize(bytes);
  } catch {
    /* not bound yet or refused: keep the default */
  }
  try {
    socket.setSendBufferSize(bytes);
  } catch {
    /* keep the default */
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const isIpCache = new Map<string, boolean>();
function isIpLiteral(host: string): boolean {
  let v = isIpCache.get(host);
  if (v === undefined) {
    // An IPv6 literal always contains ':'; a DNS name never does. IPv4 needs the full check.
    v = host.includes(':') || IPV4.test(host);
    if (isIpCache.size > 1024) isIpCache.clear();
    isIpCache.set(host, v);
  }
  return v;
}

/** How long a resolved TURN server name is reused (the allocation is tied to that address anyway). */
const DNS_REUSE_MS = 60_000;

function installFastUdpSend(transport: any): void {
  const slow = transport.send;
  if (typeof slow !== 'function' || slow[MARK]) return;
  // werift sends to a host name (a TURN server given by name) with `socket.send(data, port,
  // name)`, i.e. a DNS lookup per datagram. We resolve once per minute per name instead.
  const resolved = new Map<string, { address: string; at: number; pending?: boolean }>();
  const family = transport.socketType === 'udp6' ? 6 : 4;
  const fast = async function (data: Uint8Array, addr?: [string, number]) {
    if (addr && !isIpLiteral(addr[0])) {
      const entry = resolved.get(addr[0]);
      const now = Date.now();
      if (entry && !entry.pending && now - entry.at < DNS_REUSE_MS) {
        transport.socket.send(data, addr[1], entry.address);
        return;
      }
      if (!entry?.pending) {
        const host = addr[0];
        resolved.set(host, { address: entry?.address ?? '', at: entry?.at ?? 0, pending: true });
        dnsLookup(host, { family }, (err, address) => {
          if (err || !address) resolved.delete(host);
          else resolved.set(host, { address, at: Date.now() });
        });
      }
      return slow(data, addr);
    }
    const a = addr ?? [transport.rinfo?.address, transport.rinfo?.port];
    transport.socket.send(data, a[1], a[0]);
  };
  (fast as any)[MARK] = true;
  transport.send = fast;
}

// ---------------------------------------------------------------------------------------------
// AES-GCM record protection used by dtls-record-fastpath
//
// werift's `AEADCipher.encrypt/decrypt` call `crypto.createCipheriv(alg, rawKeyBuffer, iv)` per
// DTLS record, write the nonce into a buffer shared across calls and concatenate four buffers.
// Measured and NOT shipped as a patch of its own: turning the key into a KeyObject once per
// epoch (the profile's suggestion) makes no measurable difference on Node 20.20 here (1.2 KB
// record seal: 7.8–11.3 µs with a KeyObject vs 7.9–11.4 µs with the raw key, 3 interleaved
// runs), and Node cannot re-key a GCM context with a new IV, so one cipher object per record
// stays — the largest irreducible per-packet cost left. The functions below are what the record
// fast path uses: same bytes as werift (RFC 5288: nonce = 4-byte implicit salt ‖ 8-byte explicit
// part = epoch ‖ sequence number; AAD = epoch ‖ seq ‖ type ‖ version ‖ length), written into one
// buffer with room for the record header. Tests check byte equality against werift's cipher.
// ---------------------------------------------------------------------------------------------
interface NodeCryptoSubset {
  createCipheriv(alg: string, key: unknown, iv: Uint8Array, opts: { authTagLength: number }): any;
  createDecipheriv(alg: string, key: unknown, iv: Uint8Array, opts: { authTagLength: number }): any;
  createSecretKey(key: Uint8Array): unknown;
}

function nodeCrypto(): NodeCryptoSubset {
  return nodeCryptoModule as NodeCryptoSubset;
}

interface GcmKeys {
  alg: string;
  clientKeySrc: Uint8Array;
  serverKeySrc: Uint8Array;
  clientKey: unknown;
  serverKey: unknown;
  clientSalt: Buffer;
  serverSalt: Buffer;
}
const gcmKeys = new WeakMap<object, GcmKeys>();
const GCM = /^aes-(128|256)-gcm$/;
const SESSION_CLIENT = 1; // werift's SessionType.CLIENT

function keysFor(cipher: any, crypto: NodeCryptoSubset): GcmKeys | undefined {
  if (!cipher || !GCM.test(cipher.blockAlgorithm) || cipher.authTagLength !== 16 || cipher.nonceImplicitLength !== 4 || cipher.nonceExplicitLength !== 8) return undefined;
  const { clientWriteKey, serverWriteKey, clientNonce, serverNonce } = cipher;
  if (!clientWriteKey || !serverWriteKey || !clientNonce || !serverNonce) return undefined;
  let k = gcmKeys.get(cipher);
  if (!k || k.clientKeySrc !== clientWriteKey || k.serverKeySrc !== serverWriteKey) {
    k = {
      alg: cipher.blockAlgorithm,
      clientKeySrc: clientWriteKey,
      serverKeySrc: serverWriteKey,
      clientKey: crypto.createSecretKey(clientWriteKey),
      serverKey: crypto.createSecretKey(serverWriteKey),
      // Copy the 4-byte implicit salt: werift writes the explicit part into these buffers.
      clientSalt: Buffer.from(clientNonce.subarray(0, 4)),
      serverSalt: Buffer.from(serverNonce.subarray(0, 4)),
    };
    gcmKeys.set(cipher, k);
  }
  return k;
}

function additionalData(type: number, version: number, epoch: number, seq: number, length: number): Buffer {
  const aad = Buffer.allocUnsafe(13);
  aad.writeUInt16BE(epoch, 0);
  aad.writeUIntBE(seq, 2, 6);
  aad.writeUInt8(type, 8);
  aad.writeUInt16BE(version, 9);
  aad.writeUInt16BE(length, 11);
  return aad;
}

/** AES-GCM record protection (RFC 5288) with a cached key object. Exported for tests. */
export function gcmSeal(crypto: NodeCryptoSubset, alg: string, key: unknown, salt: Buffer, type: number, version: number, epoch: number, seq: number, plaintext: Uint8Array, headroom = 0): Buffer {
  const iv = Buffer.allocUnsafe(12);
  salt.copy(iv, 0, 0, 4);
  iv.writeUInt16BE(epoch, 4);
  iv.writeUIntBE(seq, 6, 6);
  const c = crypto.createCipheriv(alg, key, iv, { authTagLength: 16 });
  c.setAAD(additionalData(type, version, epoch, seq, plaintext.length), { plaintextLength: plaintext.length });
  const body: Buffer = c.update(plaintext);
  const fin: Buffer = c.final();
  const out = Buffer.allocUnsafe(headroom + 8 + body.length + fin.length + 16);
  iv.copy(out, headroom, 4, 12);
  body.copy(out, headroom + 8);
  if (fin.length) fin.copy(out, headroom + 8 + body.length);
  (c.getAuthTag() as Buffer).copy(out, headroom + 8 + body.length + fin.length);
  return out;
}

export function gcmOpen(crypto: NodeCryptoSubset, alg: string, key: unknown, salt: Buffer, type: number, version: number, epoch: number, seq: number, record: Buffer): Buffer {
  if (record.length < 8 + 16) throw new Error('DTLS record too short for AES-GCM');
  const iv = Buffer.allocUnsafe(12);
  salt.copy(iv, 0, 0, 4);
  record.copy(iv, 4, 0, 8);
  const encrypted = record.subarray(8, record.length - 16);
  const d = crypto.createDecipheriv(alg, key, iv, { authTagLength: 16 });
  d.setAuthTag(record.subarray(record.length - 16));
  d.setAAD(additionalData(type, version, epoch, seq, encrypted.length), { plaintextLength: encrypted.length });
  const body: Buffer = d.update(encrypted);
  const fin: Buffer = d.final(); // throws on authentication failure
  return fin.length ? Buffer.concat([body, fin]) : body;
}

// ---------------------------------------------------------------------------------------------
// SCTP association patches (werift's `SCTP` class, reached through RTCSctpTransport)
// ---------------------------------------------------------------------------------------------
const TSN_MOD = 2 ** 32;
const tsnPlusOne = (t: number) => (t + 1) % TSN_MOD;
/** Serial-number comparison (RFC 1982), as werift's uint32Gt. */
const tsnGt = (a: number, b: number) => (a < b && b - a > 2147483648) || (a > b && a - b < 2147483648);

let sctpProto: Proto | undefined;

function patchSctpHook(): void {
  wrap(RTCSctpTransport.prototype as unknown as Proto, 'setDtlsTransport', (original) =>
    function (this: any, ...args: any[]) {
      const result = original.apply(this, args);
      if (this.sctp) tuneAssociation(this.sctp);
      return result;
    },
  );
}

function tuneAssociation(sctp: any): void {
  try {
    tuneAssociationUnsafe(sctp);
  } catch (e) {
    // werift changed shape: never break the peer connection; report and run unpatched.
    const reason = e instanceof Error ? e.message : String(e);
    for (const name of [...enabled].filter((n) => n.startsWith('sctp-'))) {
      enabled.delete(name);
      if (report) {
        report.applied = report.applied.filter((n) => n !== name);
        report.skipped.push({ name, reason });
      }
    }
  }
}

function tuneAssociationUnsafe(sctp: any): void {
  const proto = Object.getPrototypeOf(sctp) as Proto;
  if (!sctpProto) {
    sctpProto = proto;
    for (const m of ['receiveDataChunk', 'markReceived', 'sendSack', 'scheduleSack', 'updateRto', 'transmitOnce', 'setState', 'sendChunk', 'handleData', 'receiveChunk', 'receiveSackChunk', 'sendResetRequest', 'transmit']) {
      if (typeof proto[m] !== 'function') throw new Error(`werift shape changed: SCTP.${m}`);
    }
    if (enabled.has('sctp-sack-coalescing')) patchSackCoalescing(proto);
    if (enabled.has('sctp-tsn-tracking')) patchTsnTracking(proto);
    if (enabled.has('sctp-rto-min')) patchRtoMin(proto);
    if (enabled.has('sctp-send-completion')) patchSendCompletionProto(proto);
    if (enabled.has('sctp-packet-fastpath')) patchSctpPacketFastPath(proto);
    if (enabled.has('sctp-retransmit-scan')) patchRetransmitScan(proto);
    if (enabled.has('sctp-path-mtu')) {
      // Larger DATA chunks are cut by the send path that sctp-send-completion installs.
      if (!enabled.has('sctp-send-completion')) throw new Error('sctp-path-mtu needs sctp-send-completion');
      patchPathMtu(proto);
    }
  }
  if (enabled.has('sctp-retransmit-scan') && proto === sctpProto) {
    const t3 = sctp.timer3Expired;
    if (typeof t3 === 'function') {
      sctp.timer3Expired = () => {
        sctp.__rtxScan = true;
        return t3();
      };
    }
  }
  if (proto !== sctpProto) return; // a different class (not expected): leave it alone
  if (enabled.has('sctp-send-completion')) installSendCompletion(sctp);
  // Not patched, measured: werift's 1 MiB receive window (a_rwnd) is kept. A 4 MiB window let
  // ~3,500 datagrams be in flight, which overflows even an 8 MiB socket buffer (the kernel
  // charges ~2.3 KiB per 1.2 KB datagram), and werift's loss recovery is O(window) per SACK.
}

// sctp-sack-coalescing
//
// werift: `receiveDataChunk` sets `sackImmediate = true` for every DATA chunk, so every packet
// is acknowledged by its own SACK (half of all datagrams are SACKs, each costing a DTLS record
// and a UDP send on both sides); when it does delay, it waits a fixed 200 ms timer.
// We: acknowledge immediately only when RFC 4960 asks for it (a duplicate, or a gap in the
// received TSNs, §6.2 and §6.7), otherwise on every second packet (werift's own counter in
// handleData) and, for an odd last packet, at the end of the current I/O turn (setImmediate)
// instead of 200 ms later.
// Standards: RFC 4960 §6.2 — "a SACK SHOULD be generated for at least every second packet …
// received, and SHOULD be generated within 200 ms of the arrival of any unacknowledged DATA
// chunk"; both hold. (Delayed acknowledgement is the RFC's intended default, not an extension.)
function patchSackCoalescing(proto: Proto): void {
  wrap(proto, 'receiveDataChunk', () =>
    function (this: any, chunk: any) {
      this.sackNeeded = true;
      if (this.markReceived(chunk.tsn)) {
        this.sackImmediate = true; // duplicate
        return;
      }
      this.sackHasNewDataInPacket = true;
      if (this.sackMisOrdered.size > 0) this.sackImmediate = true; // gap
      const inboundStream = this.getInboundStream(chunk.streamId);
      inboundStream.addChunk(chunk);
      this.advertisedRwnd -= chunk.userData.length;
      for (const message of inboundStream.popMessages()) {
        this.advertisedRwnd += message[2].length;
        this.receive(...message);
      }
    },
  );
  wrap(proto, 'scheduleSack', () =>
    async function (this: any) {
      if (this.isStopped || !this.sackNeeded) return;
      if (this.sackImmediate) {
        if (this.sackTimeout) {
          clearImmediate(this.sackTimeout);
          this.sackTimeout = undefined;
        }
        await this.sendSack();
        return;
      }
      if (this.sackTimeout) return;
      // werift clears `sackTimeout` with clearTimeout on stop; clearTimeout does not cancel an
      // Immediate, so the callback re-checks isStopped itself.
      this.sackTimeout = setImmediate(() => {
        this.sackTimeout = undefined;
        if (this.isStopped) return;
        this.sendSack().catch(() => undefined);
      });
    },
  );
}

// sctp-tsn-tracking
//
// werift: `markReceived` copies and sorts the whole out-of-order TSN set on every DATA chunk
// (`[...set].sort()`, which also sorts numbers as strings, so a TSN crossing a power of ten or
// 2^32 is misordered), rebuilds the set and the duplicates list; `sendSack` sorts it the same
// way to build gap blocks — wrong gap reports cause spurious retransmissions.
// We: advance the cumulative TSN with a set lookup (O(1) per in-order chunk), and sort gap
// TSNs by their serial-number distance from the cumulative TSN.
// Standards: this is RFC 4960 §6.2/§3.3.4 as written (TSN serial arithmetic, gap ack blocks
// relative to the Cumulative TSN Ack); fixes a bug, changes no behaviour otherwise.
function patchTsnTracking(proto: Proto): void {
  wrap(proto, 'markReceived', () =>
    function (this: any, tsn: number) {
      if (tsn === this.lastReceivedTsn || tsnGt(this.lastReceivedTsn, tsn) || this.sackMisOrdered.has(tsn)) {
        this.sackDuplicates.push(tsn);
        return true;
      }
      const misordered: Set<number> = this.sackMisOrdered;
      let next = tsnPlusOne(this.lastReceivedTsn);
      if (tsn !== next) {
        misordered.add(tsn);
      } else {
        this.lastReceivedTsn = tsn;
        next = tsnPlusOne(tsn);
        while (misordered.size > 0 && misordered.delete(next)) {
          this.lastReceivedTsn = next;
          next = tsnPlusOne(next);
        }
      }
      if (this.sackDuplicates.length > 0) {
        // werift keeps only duplicates above the cumulative TSN; same here.
        this.sackDuplicates = this.sackDuplicates.filter((x: number) => tsnGt(x, this.lastReceivedTsn));
      }
      return false;
    },
  );
  wrap(proto, 'sendSack', (original) =>
    async function (this: any, ...args: any[]) {
      // Any gap: our serial-arithmetic gap blocks (werift's `(tsn - cum) % 2^32` goes negative
      // across the wrap even for a single out-of-order TSN).
      if (this.sackMisOrdered.size > 0 && SackChunkCtor) return sendSackSerial.call(this);
      if (!SackChunkCtor) {
        // Capture werift's (unexported) SackChunk class from the first SACK it builds.
        const own = Object.prototype.hasOwnProperty.call(this, 'sendChunk') ? this.sendChunk : undefined;
        const inner = own ?? Object.getPrototypeOf(this).sendChunk;
        this.sendChunk = (chunk: any) => {
          if (chunk?.constructor && chunk.type === 3) SackChunkCtor = chunk.constructor;
          return inner.call(this, chunk);
        };
        try {
          return await original.apply(this, args);
        } finally {
          if (own) this.sendChunk = own;
          else delete this.sendChunk;
        }
      }
      return original.apply(this, args);
    },
  );
}

async function sendSackSerial(this: any): Promise<void> {
  if (this.isStopped || !this.sackNeeded) return;
  const base: number = this.lastReceivedTsn;
  const offsets = [...(this.sackMisOrdered as Set<number>)].map((t) => (t - base + TSN_MOD) % TSN_MOD).sort((a, b) => a - b);
  const gaps: [number, number][] = [];
  for (const pos of offsets) {
    const last = gaps[gaps.length - 1];
    if (last && pos === last[1] + 1) last[1] = pos;
    else gaps.push([pos, pos]);
  }
  const SackChunk = SackChunkCtor;
  const sack = new SackChunk(0, undefined);
  sack.cumulativeTsn = base;
  sack.advertisedRwnd = Math.max(0, this.advertisedRwnd);
  sack.duplicates = [...this.sackDuplicates];
  sack.gaps = gaps;
  await this.sendChunk(sack).catch(() => undefined);
  this.sackDuplicates = [];
  this.sackNeeded = false;
  this.sackPacketCount = 0;
  this.sackImmediate = false;
}

let SackChunkCtor: any;

// sctp-rto-min
//
// werift: RTO.Min is 1 s (RFC 4960's recommended default), so every loss that fast retransmit
// does not repair (a lost tail, a lost retransmission) stalls the channel for ≥ 1 s, and T3
// collapses cwnd to one packet.
// We: clamp the computed RTO to [tuningSettings.sctpRtoMinSeconds (0.2 s), 60 s] instead of
// [1 s, 60 s]. The RTT estimator (SRTT + 4·RTTVAR, RFC 4960 §6.3.1) is werift's unchanged.
// Standards: RFC 4960 §6.3.1 computes RTO from measurements and lets implementations configure
// RTO.Min (§15 gives 1 s as a recommended value, not a requirement); 200 ms is Linux TCP's
// minimum RTO. On a real path with a larger RTT the estimator dominates and nothing changes.
function patchRtoMin(proto: Proto): void {
  wrap(proto, 'updateRto', () =>
    function (this: any, R: number) {
      if (!this.srtt) {
        this.rttvar = R / 2;
        this.srtt = R;
      } else {
        this.rttvar = (1 - 1 / 4) * this.rttvar + (1 / 4) * Math.abs(this.srtt - R);
        this.srtt = (1 - 1 / 8) * this.srtt + (1 / 8) * R;
      }
      this.rto = Math.max(tuningSettings.sctpRtoMinSeconds, Math.min(this.srtt + 4 * this.rttvar, 60));
    },
  );
}

// sctp-send-completion (fixes the 16 KiB stall and bufferedAmount)
//
// werift: `SCTP.send(message)` queues the message's chunks and then waits `while
// (outboundQueue.length) await flush.asPromise()` — i.e. until the WHOLE outbound queue is
// empty, not just its own chunks. Every queued message is one waiter on the `flush` event, and
// `Event.once` unsubscribes by filtering the waiter array, so each transmit round costs
// O(waiters²): with thousands of 16 KiB messages queued at once the process spends its time
// there and delivery stops (the reported stall). It also means `bufferedAmount` only drops when
// the queue is empty, so `bufferedamountlow` cannot pace a sender.
// We: `send` resolves when its own last chunk has left the outbound queue (was transmitted
// once — after that SCTP owns its reliability), via a FIFO of waiters checked after each
// transmit round (O(1) per message). On close, pending sends resolve. Chunking, TSNs, stream
// sequence numbers and flags are built exactly as werift does.
// Standards: local API behaviour only. bufferedAmount now means "queued, not yet sent", like
// browsers' data channels.
interface SendWaiter {
  last: any;
  resolve: () => void;
}

function patchSendCompletionProto(proto: Proto): void {
  wrap(proto, 'transmitOnce', (original) =>
    async function (this: any, ...args: any[]) {
      try {
        return await original.apply(this, args);
      } finally {
        releaseSent(this);
      }
    },
  );
  wrap(proto, 'setState', (original) =>
    function (this: any, state: number, ...rest: any[]) {
      const result = original.call(this, state, ...rest);
      if (state === 1) releaseAll(this); // CLOSED
      return result;
    },
  );
}

function releaseSent(sctp: any): void {
  const waiters: SendWaiter[] | undefined = sctp.__posternSendWaiters;
  if (!waiters) return;
  let i = 0;
  while (i < waiters.length && waiters[i]!.last.sentCount > 0) i++;
  if (i === 0) return;
  const done = waiters.splice(0, i);
  for (const w of done) w.resolve();
}

function releaseAll(sctp: any): void {
  const waiters: SendWaiter[] | undefined = sctp.__posternSendWaiters;
  if (!waiters) return;
  for (const w of waiters.splice(0)) w.resolve();
}

function installSendCompletion(sctp: any): void {
  if (sctp.__posternSendWaiters) return;
  const DataChunkCtor = dataChunkClass(sctp);
  if (!DataChunkCtor) throw new Error('werift shape changed: DataChunk class not found');
  const waiters: SendWaiter[] = [];
  sctp.__posternSendWaiters = waiters;
  sctp.send = function send(
    streamId: number,
    ppId: number,
    userData: Buffer,
    { expiry, maxRetransmits, ordered }: { expiry?: number; maxRetransmits?: number; ordered?: boolean } = { expiry: undefined, maxRetransmits: undefined, ordered: true },
  ): Promise<void> {
    const streamSeqNum = ordered ? sctp.outboundStreamSeq[streamId] || 0 : 0;
    const fragmentBytes = userDataMax(sctp); // 1,200 unless sctp-path-mtu confirmed more
    const fragments = Math.ceil(userData.length / fragmentBytes);
    let last: any;
    for (let fragment = 0, pos = 0; fragment < fragments; fragment++, pos += fragmentBytes) {
      const chunk = new DataChunkCtor(0, undefined);
      chunk.flags = ordered ? 0 : 4; // SCTP_DATA_UNORDERED
      if (fragment === 0) chunk.flags |= 2; // SCTP_DATA_FIRST_FRAG
      if (fragment === fragments - 1) chunk.flags |= 1; // SCTP_DATA_LAST_FRAG
      chunk.tsn = sctp.localTsn;
      chunk.streamId = streamId;
      chunk.streamSeqNum = streamSeqNum;
      chunk.protocol = ppId;
      chunk.userData = userData.subarray(pos, pos + fragmentBytes);
      chunk.bookSize = chunk.userData.length;
      chunk.expiry = expiry;
      chunk.maxRetransmits = maxRetransmits;
      sctp.localTsn = tsnPlusOne(sctp.localTsn);
      sctp.outboundQueue.push(chunk);
      last = chunk;
    }
    if (ordered) sctp.outboundStreamSeq[streamId] = (streamSeqNum + 1) & 0xffff;
    if (!last) return sctp.transmit(); // empty message: werift sends nothing either
    const done = new Promise<void>((resolve) => waiters.push({ last, resolve }));
    if (sctp.isStopped) releaseAll(sctp);
    void sctp.transmit().catch(() => undefined);
    return done;
  };
}

let DataChunkCtorCache: any;
/** werift's DataChunk class (not exported by the bundle): built once by werift's own send path. */
function dataChunkClass(sctp: any): any {
  if (DataChunkCtorCache) return DataChunkCtorCache;
  // `sendResetRequest` builds a DataChunk and queues it; run its first synchronous part on a
  // scratch object that only has what it touches, and take the constructor from the queue.
  const scratch = { outboundQueue: [] as any[], timer3Handle: true, transmit: async () => undefined };
  void Object.getPrototypeOf(sctp).sendResetRequest.call(scratch, 0);
  DataChunkCtorCache = scratch.outboundQueue[0]?.constructor;
  return DataChunkCtorCache;
}


// ---------------------------------------------------------------------------------------------
// dtls-record-fastpath
//
// werift: every application-data record goes through generic record objects serialised and
// parsed with a schema library (`createPlaintext` → `DtlsPlaintext.serialize`, and
// `parsePacket` → `DtlsPlaintext.deSerialize` → `parsePlainText`), with several intermediate
// buffers per record.
// We: once the handshake is done (`RTCDtlsTransport.start` resolved), send application data as
// one buffer: the 13-byte DTLS 1.2 record header written directly in front of the AES-GCM
// output (same sequence number counter and epoch werift uses). On receive, a datagram that is
// exactly one application-data record of the current epoch is decrypted directly and handed to
// werift's `onData`; everything else (handshake, alerts, several records in a datagram,
// other cipher suites) takes werift's path unchanged. A record that fails authentication is
// dropped, as werift drops it.
// Standards: the bytes are the RFC 6347 §4.1 record layout werift produces; no behaviour change.
// ---------------------------------------------------------------------------------------------
const CONTENT_APPLICATION_DATA = 23;

function patchDtlsRecordFastPath(): void {
  const crypto = nodeCrypto();
  wrap(RTCDtlsTransport.prototype as unknown as Proto, 'start', (original) =>
    async function (this: any, ...args: any[]) {
      const result = await original.apply(this, args);
      if (this.dtls) installDtlsFastPath(this.dtls, crypto);
      return result;
    },
  );
}

export function installDtlsFastPath(socket: any, crypto: NodeCryptoSubset = nodeCrypto()): void {
  if (socket.__posternFast) return;
  if (typeof socket.send !== 'function' || !socket.transport?.socket || typeof socket.transport.socket.onData !== 'function' || !socket.cipher || !socket.dtls) return;
  socket.__posternFast = true;
  const slowSend = socket.send;
  socket.send = async (buf: Buffer, addr?: unknown) => {
    const ctx = socket.dtls;
    const k = keysFor(socket.cipher.cipher, crypto);
    if (!k || addr !== undefined) return slowSend(buf, addr);
    const isClient = socket.cipher.sessionType === SESSION_CLIENT;
    const version = (ctx.version.major << 8) | ctx.version.minor;
    const seq = ++ctx.recordSequenceNumber;
    // 4 spare bytes in front of the record: a ChannelData header (turn-channel-fastpath) fits
    // there without copying the record into a new buffer.
    const record = gcmSeal(crypto, k.alg, isClient ? k.clientKey : k.serverKey, isClient ? k.clientSalt : k.serverSalt, CONTENT_APPLICATION_DATA, version, ctx.epoch, seq, buf, 13 + CHANNEL_DATA_HEADER).subarray(CHANNEL_DATA_HEADER);
    withHeadroom.add(record);
    record[0] = CONTENT_APPLICATION_DATA;
    record.writeUInt16BE(version, 1);
    record.writeUInt16BE(ctx.epoch, 3);
    record.writeUIntBE(seq, 5, 6);
    record.writeUInt16BE(record.length - 13, 11);
    await socket.transport.send(record);
  };
  const ice = socket.transport.socket;
  const slowReceive = ice.onData;
  ice.onData = (data: Buffer) => {
    if (data.length >= 13 + 24 && data[0] === CONTENT_APPLICATION_DATA && data.readUInt16BE(11) + 13 === data.length) {
      const ctx = socket.dtls;
      const epoch = data.readUInt16BE(3);
      const k = epoch === ctx.epoch ? keysFor(socket.cipher.cipher, crypto) : undefined;
      if (k) {
        const isClient = socket.cipher.sessionType === SESSION_CLIENT;
        let plain: Buffer;
        try {
          plain = gcmOpen(crypto, k.alg, isClient ? k.serverKey : k.clientKey, isClient ? k.serverSalt : k.clientSalt, CONTENT_APPLICATION_DATA, data.readUInt16BE(1), epoch, data.readUIntBE(5, 6), data.subarray(13));
        } catch {
          return; // forged or corrupted: drop, as werift does
        }
        socket.onData.execute(plain);
        return;
      }
    }
    return slowReceive(data);
  };
}

// ---------------------------------------------------------------------------------------------
// sctp-packet-fastpath
//
// werift: `sendChunk` → `serializePacket` copies each DATA chunk four times (header+payload
// concat, padding concat, a concat just to compute the CRC32c, the final packet concat), and
// `handleData` → `parsePacket` concatenates the whole packet again to verify the CRC32c.
// We: serialise a DATA chunk straight into one packet buffer and compute the CRC32c over it in
// place; on receive, verify the CRC32c by chaining over the header, four zero bytes and the
// rest (werift's own crc32c with a seed) without a copy, then let werift parse the chunks.
// Other chunk types take werift's path.
// Standards: same bytes (RFC 4960 §3 common header, §3.3.1 DATA, Appendix B CRC32c).
// ---------------------------------------------------------------------------------------------
const ZERO4 = Buffer.alloc(4);

/** CRC32c of an SCTP packet with its checksum field taken as zero, without copying it. */
export function sctpChecksum(packet: Buffer): number {
  let crc = crc32c(packet.subarray(0, 8));
  crc = crc32c(ZERO4, crc);
  return crc32c(packet.subarray(12), crc);
}

function patchSctpPacketFastPath(proto: Proto): void {
  wrap(proto, 'sendChunk', (original) =>
    async function (this: any, chunk: any) {
      if (chunk?.type !== 0 || !chunk.userData || this.state === 'closed' || this.remotePort === undefined) return original.call(this, chunk);
      const length = 16 + chunk.userData.length;
      const padded = length + ((4 - (length % 4)) % 4);
      const packet = Buffer.alloc(12 + padded); // zeroed: checksum field and padding
      packet.writeUInt16BE(this.localPort, 0);
      packet.writeUInt16BE(this.remotePort, 2);
      packet.writeUInt32BE(this.remoteVerificationTag, 4);
      packet[12] = 0;
      packet[13] = chunk.flags;
      packet.writeUInt16BE(length, 14);
      packet.writeUInt32BE(chunk.tsn, 16);
      packet.writeUInt16BE(chunk.streamId, 20);
      packet.writeUInt16BE(chunk.streamSeqNum, 22);
      packet.writeUInt32BE(chunk.protocol, 24);
      (chunk.userData as Buffer).copy(packet, 28);
      packet.writeUInt32LE(crc32c(packet), 8);
      await this.transport.send(packet);
    },
  );
  // Learn werift's (unexported) chunk classes from the chunks its own parser produces.
  wrap(proto, 'receiveChunk', (original) =>
    function (this: any, chunk: any) {
      learnChunkClass(chunk);
      return original.call(this, chunk);
    },
  );
  wrap(proto, 'handleData', (original) =>
    function (this: any, data: Buffer) {
      if (this.isStopped || !Buffer.isBuffer(data) || data.length < 12) return original.call(this, data);
      const chunks = parseChunksIfKnown(data);
      if (!chunks) return original.call(this, data); // a chunk type not seen yet: werift parses
      // werift throws on a bad checksum from this async handler (an unhandled rejection); drop.
      if (data.readUInt32LE(8) !== sctpChecksum(data)) return Promise.resolve();
      return handleVerified.call(this, data, chunks);
    },
  );
}

function parseChunksIfKnown(data: Buffer): any[] | undefined {
  if (!ChunkClassByType) return undefined;
  const chunks: any[] = [];
  let pos = 12;
  while (pos + 4 <= data.length) {
    const length = data.readUInt16BE(pos + 2);
    const Ctor = ChunkClassByType.get(data[pos]!);
    if (!Ctor || length < 4 || pos + length > data.length) return undefined;
    chunks.push(new Ctor(data[pos + 1]!, data.subarray(pos + 4, pos + length)));
    pos += length + ((4 - (length % 4)) % 4);
  }
  return chunks;
}

let ChunkClassByType: Map<number, any> | undefined;

/** werift's handleData after the checksum check (done by the caller, without a copy). */
async function handleVerified(this: any, data: Buffer, chunks: any[]): Promise<void> {
  const verificationTag = data.readUInt32BE(4);
  const hasInit = chunks.some((c) => c.type === 1);
  if (hasInit && chunks.length !== 1) return;
  const expectedTag = hasInit ? 0 : this.localVerificationTag;
  if (verificationTag !== expectedTag) return;
  this.sackHasNewDataInPacket = false;
  for (const chunk of chunks) await this.receiveChunk(chunk);
  if (this.sackNeeded) {
    if (this.sackHasNewDataInPacket) this.sackPacketCount++;
    if (this.sackPacketCount >= 2) this.sackImmediate = true;
    await this.scheduleSack();
  }
}

/** Records werift's class for a chunk type (classes are not exported by the bundle). */
function learnChunkClass(chunk: any): void {
  if (!chunk?.constructor || typeof chunk.type !== 'number') return;
  ChunkClassByType ??= new Map();
  if (!ChunkClassByType.has(chunk.type)) ChunkClassByType.set(chunk.type, chunk.constructor);
}

// sctp-retransmit-scan
//
// werift: `transmitOnce` (run after every SACK and every send) walks the whole sent queue
// looking for chunks marked for retransmission — O(window) per call even when nothing was lost
// (with a 1 MiB window, ~870 chunks per SACK).
// We: remember whether anything can be marked (a SACK carried gap blocks, or T3 fired — the
// only two places werift sets `retransmit`) and skip the walk otherwise; the rest of
// transmitOnce is werift's, unchanged (same burst limit, cwnd and rwnd checks, timers).
// Standards: no behaviour change; the same chunks are (re)sent in the same order.
function patchRetransmitScan(proto: Proto): void {
  wrap(proto, 'receiveSackChunk', (original) =>
    function (this: any, chunk: any) {
      if (chunk?.gaps?.length) this.__rtxScan = true;
      return original.call(this, chunk);
    },
  );
  wrap(proto, 'transmitOnce', (original) =>
    async function (this: any) {
      if (this.__rtxScan !== false || this.isStopped || this.forwardTsnChunk) {
        // First call, or something may be marked: werift's full version, then re-check.
        const result = await original.call(this);
        this.__rtxScan = this.sentQueue.some((c: any) => c.retransmit);
        return result;
      }
      // Nothing can be marked for retransmission: werift's loop over new chunks only.
      const burstSize = (this.fastRecoveryExit !== undefined ? 2 : 4) * userDataMax(this);
      const cwnd = Math.min(this.flightSize + burstSize, this.cwnd);
      while (this.outboundQueue.length > 0 && this.flightSize < cwnd && this.peerRwnd > 0) {
        const chunk = this.outboundQueue.shift();
        if (!chunk) break;
        if (chunk.bookSize > this.peerRwnd && this.flightSize > 0) {
          this.outboundQueue.unshift(chunk);
          break;
        }
        this.sentQueue.push(chunk);
        this.flightSizeIncrease(chunk);
        chunk.sentCount++;
        chunk.sentTime = Date.now() / 1e3;
        await this.sendChunk(chunk).catch(() => undefined);
        if (!this.timer3Handle) this.timer3Start();
        if (this.__rtxScan) break; // a SACK with gaps arrived meanwhile: let the full version run next
      }
      if (!this.outboundQueue.length) this.outboundQueue = [];
      this.flush.execute();
      releaseSent(this); // sctp-send-completion's hook lives in the wrapper this path bypasses
    },
    'retransmit-scan',
  );
}

// ---------------------------------------------------------------------------------------------
// sctp-path-mtu
//
// werift: every DATA chunk carries at most 1,200 bytes, whatever the path, so a tunnel's
// throughput is capped by packets per second (each packet: a DTLS record, a CRC32c and a UDP
// send per side) long before bandwidth.
// We: when the caller knows the peer accepts larger packets (`startSctpPathMtuDiscovery`, called
// by the tunnel code once the channel is open, with the size the peer declared in the sealed
// signalling) and the path's ceiling (./path-mtu.ts: the local link MTU towards every hop, or
// POSTERN_WEBRTC_MAX_PACKET) allows more, probe with padded HEARTBEATs (./sctp-path-mtu.ts)
// and, once the peer echoes one, cut DATA chunks to that size and count congestion control in
// it. Probe acks are consumed before werift sees them. Never automatic: Chromium 156 does not
// echo a 16 KiB probe and closes its data channel (measured 2026-12-01 by probing from the
// Chromium interop test's peer), so only a peer that declared larger packets is probed.
// Standards: RFC 8899 §6.2.1 (SCTP PLPMTUD, HEARTBEAT-based probe), RFC 4960 §7.2 (cwnd in
// MTU units). A peer that does not echo the probe (or a path that drops it) stays at 1,200.
// ---------------------------------------------------------------------------------------------
function patchPathMtu(proto: Proto): void {
  wrap(
    proto,
    'receiveChunk',
    (original) =>
      function (this: any, chunk: any) {
        if (takeProbeAck(this, chunk)) return Promise.resolve();
        return original.call(this, chunk);
      },
    'path-mtu',
  );
  wrap(
    proto,
    'receiveSackChunk',
    (original) =>
      function (this: any, chunk: any) {
        const before = snapshotBeforeSack(this);
        const result = original.call(this, chunk); // cwnd changes happen before its first await
        adjustCongestionWindow(this, before);
        return result;
      },
    'path-mtu',
  );
}

/**
 * Probes the path of `pc`'s SCTP association up to `peerMaxPacket` (what the peer declared it
 * accepts) and switches to the largest size acknowledged. Resolves with the SCTP packet size in
 * use (DEFAULT_SCTP_PACKET when the patch is off, the peer declared nothing, the path gives no
 * larger ceiling or no probe was echoed). Once per association; never rejects.
 */
export function startSctpPathMtuDiscovery(pc: unknown, peerMaxPacket: number | undefined): Promise<number> {
  const sctp = associationOf(pc);
  if (!enabled.has('sctp-path-mtu') || !sctp || !peerMaxPacket) return Promise.resolve(DEFAULT_SCTP_PACKET);
  if (sctp.__posternPathMtuStarted) return Promise.resolve(pathMtuState(sctp)?.packetBytes ?? DEFAULT_SCTP_PACKET);
  sctp.__posternPathMtuStarted = true;
  const ceiling = Math.min(pathCeiling(sctp), peerMaxPacket);
  if (ceiling <= DEFAULT_SCTP_PACKET) return Promise.resolve(DEFAULT_SCTP_PACKET);
  return discoverPathMtu(sctp, { ceiling }).catch(() => DEFAULT_SCTP_PACKET);
}

/** The SCTP packet size `pc` sends with (after `startSctpPathMtuDiscovery`). */
export function sctpPacketBytes(pc: unknown): number {
  const sctp = associationOf(pc);
  return pathMtuState(sctp)?.packetBytes ?? DEFAULT_SCTP_PACKET;
}

/** werift's SCTP association of a peer connection (created with its first data channel). */
function associationOf(pc: unknown): any {
  return (pc as { sctpTransport?: { sctp?: unknown } } | undefined)?.sctpTransport?.sctp;
}

/** The ceiling for this association's selected ICE pair (see ./path-mtu.ts). */
function pathCeiling(sctp: any): number {
  const connection = (sctp.transport?.dtls ?? sctp.transport)?.iceTransport?.connection; // werift wraps the RTCDtlsTransport in a BridgeDtls
  const pairs: any[] = connection?.candidatePairs ?? [];
  const pair = pairs.find((p) => p.nominated) ?? pairs.find((p) => p.state === 3); // 3 = SUCCEEDED
  const remoteAddress = pair?.remoteCandidate?.host;
  if (typeof remoteAddress !== 'string') return DEFAULT_SCTP_PACKET;
  const viaTurn = pair.localCandidate?.type === 'relay';
  const turnServer = viaTurn ? connection.turnServer?.[0] : undefined;
  if (viaTurn && typeof turnServer !== 'string') return DEFAULT_SCTP_PACKET;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return sctpPacketCeiling({ remoteAddress, turnServer }, nodeHostNetwork(), env?.POSTERN_WEBRTC_MAX_PACKET);
}

// ---------------------------------------------------------------------------------------------
// turn-channel-fastpath
//
// werift: every datagram sent through a TURN allocation goes `TurnProtocol.sendData` →
// `await getChannel(addr)` (an async function: promises, and a JSON.stringify of the address
// for the cache key) → `encodeChannelData` (Buffer.concat: a new buffer and a copy of the whole
// datagram for a 4-byte header). On a relayed tunnel that is a 16 KiB allocation and copy per
// packet; the CLI's garbage collector time grew fivefold (CPU profile, test/bench/tunnel relay).
// We: when the channel for that peer is bound and not due for refresh, and no bind is in
// flight, frame and send synchronously; the header goes into 4 bytes the DTLS record fast path
// leaves in front of each record (a WeakSet marks such buffers), otherwise one copy is made as
// werift does. Everything else (first bind, refresh, TCP/TLS transports, Send indications)
// takes werift's path unchanged.
// Standards: the same ChannelData bytes (RFC 8656 §12.4; no padding over UDP, as werift).
// ---------------------------------------------------------------------------------------------
const CHANNEL_DATA_HEADER = 4;
/** Buffers that have CHANNEL_DATA_HEADER writable bytes of their own ArrayBuffer in front of them. */
const withHeadroom = new WeakSet<Uint8Array>();

function patchTurnChannelFastPath(): void {
  wrap(TurnProtocol.prototype as unknown as Proto, 'sendData', (original) =>
    function (this: any, data: Buffer, addr: [string, number]) {
      const transport = this.transport;
      if (!transport || transport.closed || transport.type === 'tcp' || transport.type === 'tls' || !Array.isArray(addr) || !this.server) return original.call(this, data, addr);
      const key = JSON.stringify(addr); // werift's channelKey
      const channel = this.channelByAddr?.[key];
      if (!channel || !(channel.refreshAt > Math.floor(Date.now() / 1000)) || this.channelBindingByAddr?.get(key)) return original.call(this, data, addr);
      let framed: Buffer;
      if (withHeadroom.has(data) && data.byteOffset >= CHANNEL_DATA_HEADER) {
        framed = Buffer.from(data.buffer, data.byteOffset - CHANNEL_DATA_HEADER, data.length + CHANNEL_DATA_HEADER);
      } else {
        framed = Buffer.allocUnsafe(CHANNEL_DATA_HEADER + data.length);
        framed.set(data, CHANNEL_DATA_HEADER);
      }
      framed.writeUInt16BE(channel.number, 0);
      framed.writeUInt16BE(data.length, 2);
      return transport.send(framed, this.server);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// turn-release-on-close
//
// werift: closing a peer connection stops refreshing its TURN allocations and closes the
// socket, but never tells the server, so each allocation lives on until its lifetime runs out
// (600 s) and counts against the user's allocation quota on the Relay meanwhile: a user who
// opens and closes a few tunnels in a row is refused with 486 (quota) for ten minutes.
// We: before werift's close, send Refresh with LIFETIME 0 (RFC 8656 §7.2: deletes the
// allocation), waiting at most RELEASE_WAIT_MS for the answer (werift's own request path, so a
// stale nonce is retried as werift retries it). Nothing is sent for an allocation that never
// succeeded or whose transport is already closed.
// Standards: RFC 8656 §7.2 and §8 (Refresh, LIFETIME 0).
// ---------------------------------------------------------------------------------------------
const RELEASE_WAIT_MS = 500;
const TURN_REFRESH = 4;
const STUN_REQUEST = 0;

function patchTurnReleaseOnClose(): void {
  const proto = TurnProtocol.prototype as unknown as Proto;
  if (typeof proto['requestWithRetry'] !== 'function') throw new Error('werift shape changed: TurnProtocol.requestWithRetry');
  wrap(proto, 'close', (original) =>
    async function (this: any, ...args: any[]) {
      if (!this.__posternReleased && this.relayedAddress && this.integrityKey && this.server && !this.transport?.closed) {
        this.__posternReleased = true;
        this.refreshHandle?.resolve?.(); // no refresh may race the release
        try {
          const request = new (Message as any)(TURN_REFRESH, STUN_REQUEST).setAttribute('LIFETIME', 0);
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            this.requestWithRetry(request, this.server).catch(() => undefined),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, RELEASE_WAIT_MS);
            }),
          ]);
          clearTimeout(timer);
        } catch {
          // Best effort: the allocation then expires on the server as before.
        }
      }
      return original.apply(this, args);
    },
  );
}
