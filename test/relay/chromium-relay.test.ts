/**
 * Postern's TURN server with a WebRTC stack nobody here wrote: Debian's Chromium (headless,
 * driven by playwright-core) opens an ordered data channel to werift (what the gateway answers
 * with) in this process, both forced through the Relay with iceTransportPolicy "relay" and given
 * no ICE server but ours, so every packet between them crosses relay/adapters/node/udp-turn.ts.
 *
 * Needs POSTERN_TEST_CHROMIUM, the path `bash scripts/services/chromium.sh` prints (it installs
 * Debian's chromium when missing); skipped with the reason in its title otherwise.
 *
 * The relay listens on 127.0.0.1 and both peers' relayed addresses are on 127.0.0.1, which the
 * default peer policy refuses; the server runs with that default policy all the same, since it
 * permits the exact relayed address of a live allocation of its own (the embedded Relay of
 * `postern server start` relies on the same).
 *
 * Chromium is started without network access of its own: no DNS (every host name maps to
 * NOTFOUND), playwright's switches against background requests, and the test page is served by
 * page.route, not by a socket. With iceTransportPolicy "relay" it gathers no host candidates,
 * so no mDNS name is registered either.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Socket as UdpSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
// werift as shipped (the `werift-stock` alias; `werift` itself carries Postern's patch set):
// the point is a stack nobody here wrote.
import { RTCPeerConnection, type RTCDataChannel } from 'werift-stock';
import { startUdpTurnServer, type UdpTurnServer } from '../../relay/adapters/node/udp-turn.ts';
import { peerPolicy } from '../../relay/policy/peer-address.ts';
import { issueTurnCredentials, type TurnCredentials } from '../../relay/stun/credentials.ts';
import type { TurnMetrics } from '../../relay/server/turn-server.ts';
import { messageSize, PAGE_SCRIPT, type PageOffer, type PageSelectedPair, type PageStream } from './chromium-page.ts';
import { requireService } from '../support/services.ts';

const CHROMIUM = requireService('Chromium', 'POSTERN_TEST_CHROMIUM') ?? '';
const SKIP = CHROMIUM ? undefined : 'skipped: POSTERN_TEST_CHROMIUM is not set; run `bash scripts/services/chromium.sh` and export its output';

const SECRET = 'chromium-relay-test-secret-0123456789';
const REALM = 'relay.test';
/** Messages each way; every tenth is 16 KiB and every tenth 64 KiB (chromium-page.ts). */
const MESSAGES = 200;
const PAGE_URL = 'http://127.0.0.1:9/relay-test';

// Every wait is bounded by one of these.
const LAUNCH_MS = 30_000;
const GATHER_MS = 10_000;
const CONNECT_MS = 20_000;
const TRANSFER_MS = 45_000;
/** How long a peer with bad TURN credentials is given to (not) connect. */
const REFUSED_MS = 6_000;

interface Werift {
  pc: RTCPeerConnection;
  channel: Promise<RTCDataChannel>;
  received: Buffer[];
  receivedBytes: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}

/** Polls check() every 20 ms until true; false if ms pass first. */
async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

function hashMessages(messages: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  const len = Buffer.alloc(4);
  for (const m of messages) {
    len.writeUInt32BE(m.length);
    h.update(len);
    h.update(m);
  }
  return h.digest('hex');
}

function totalDropped(m: TurnMetrics): number {
  return Object.values(m.dropped).reduce((sum: number, n) => sum + (n ?? 0), 0);
}

function candidateTypes(sdp: string): string[] {
  return [...sdp.matchAll(/^a=candidate:.* typ (\w+)/gm)].map((m) => m[1]!);
}

function iceServers(turn: UdpTurnServer, creds: Pick<TurnCredentials, 'username' | 'password'>): { urls: string; username: string; credential: string }[] {
  return [{ urls: `turn:${turn.address.address}:${turn.address.port}?transport=udp`, username: creds.username, credential: creds.password }];
}

/**
 * The gateway's side: werift answering Chromium's offer, relay-only and with our TURN server as
 * its only ICE server (without one werift falls back to a public Google STUN server).
 */
async function weriftAnswer(turn: UdpTurnServer, creds: TurnCredentials, offer: string): Promise<{ peer: Werift; sdp: string }> {
  const pc = new RTCPeerConnection({ iceServers: iceServers(turn, creds), iceTransportPolicy: 'relay' });
  const received: Buffer[] = [];
  const peer: Werift = {
    pc,
    received,
    receivedBytes: 0,
    channel: new Promise<RTCDataChannel>((resolve) => {
      pc.onDataChannel.subscribe((dc) => {
        dc.onMessage.subscribe((data) => {
          const bytes = typeof data === 'string' ? Buffer.from(data) : data;
          received.push(bytes);
          peer.receivedBytes += bytes.length;
        });
        if (dc.readyState === 'open') resolve(dc);
        else dc.stateChanged.subscribe((s) => s === 'open' && resolve(dc));
      });
    }),
  };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  if (pc.iceGatheringState !== 'complete') {
    await withTimeout(
      new Promise<void>((resolve) => pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve())),
      GATHER_MS,
      'werift ICE gathering',
    );
  }
  return { peer, sdp: pc.localDescription!.sdp };
}

/** werift → Chromium: count messages of messageSize(i) random bytes, at most 1 MiB buffered. */
async function weriftSend(dc: RTCDataChannel, count: number, ms: number): Promise<PageStream> {
  const deadline = Date.now() + ms;
  const sent: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    if (dc.bufferedAmount > 1024 * 1024) {
      const drained = await waitFor(() => dc.bufferedAmount <= 256 * 1024, deadline - Date.now());
      if (!drained) throw new Error(`werift send: ${i} of ${count} messages handed over, bufferedAmount stuck at ${dc.bufferedAmount}`);
    }
    const m = randomBytes(messageSize(i));
    dc.send(m);
    sent.push(m);
    bytes += m.length;
  }
  return { count, bytes, sha256: hashMessages(sent) };
}

async function closeWerift(peer: Werift | undefined): Promise<void> {
  if (!peer) return;
  await withTimeout(peer.pc.close(), 5_000, 'werift close').catch(() => {});
}

describe.skipIf(SKIP !== undefined)(`Chromium's WebRTC through Postern's TURN server${SKIP ? ` (${SKIP})` : ''}`, () => {
  let turn: UdpTurnServer;
  let browser: Browser | undefined;
  let page: Page;
  const turnLog: { level: string; event: string; fields: Record<string, unknown> }[] = [];

  // Every UDP datagram this process sends (werift's and the relay's) goes to loopback: werift,
  // given only our relay, sends nothing to its default public STUN server.
  const offLoopback: string[] = [];
  const originalSend = UdpSocket.prototype.send;

  beforeAll(async () => {
    UdpSocket.prototype.send = function (this: UdpSocket, ...args: unknown[]) {
      const address = args.slice(1).find((a): a is string => typeof a === 'string');
      if (address !== undefined && address !== '127.0.0.1' && address !== 'localhost' && offLoopback.length < 20) offLoopback.push(address);
      return (originalSend as (...a: unknown[]) => void).apply(this, args);
    } as typeof UdpSocket.prototype.send;
    turn = await startUdpTurnServer({
      port: 0,
      host: '127.0.0.1',
      realm: REALM,
      authSecret: SECRET,
      peerPolicy: peerPolicy(),
      log: (level, event, fields) => turnLog.push({ level, event, fields }),
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: LAUNCH_MS,
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-default-apps',
        '--disable-sync',
        '--no-first-run',
        '--metrics-recording-only',
        // No name resolution at all: the test uses addresses only, and nothing else may leave.
        '--host-resolver-rules=MAP * ~NOTFOUND',
        '--renderer-process-limit=1',
      ],
    });
    page = await browser.newPage();
    // crypto.subtle needs a secure context, which about:blank is not and http://127.0.0.1 is.
    await page.route(`${PAGE_URL}**`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Postern relay test</title>' }),
    );
    await page.goto(PAGE_URL, { timeout: 10_000 });
    await page.evaluate(PAGE_SCRIPT);
  });

  afterAll(async () => {
    if (browser) await withTimeout(browser.close(), 15_000, 'Chromium close').catch((e: unknown) => console.warn(`[chromium-relay] ${String(e)}`));
    await turn?.close();
    UdpSocket.prototype.send = originalSend;
  });

  const call = <T>(method: string, ...args: unknown[]): Promise<T> =>
    page.evaluate<T>(`window.__relayTest.${method}(${args.map((a) => JSON.stringify(a)).join(', ')})`);

  it(
    'opens an ordered data channel between Chromium and werift relay-only, and carries 200 messages each way byte-exact (16 KiB and 64 KiB ones included)',
    async () => {
      const before: TurnMetrics = turn.server.metrics;
      const logStart = turnLog.length;
      const now = Date.now();
      const chromiumCreds = issueTurnCredentials(SECRET, 'chromium-user', 600, now);
      const weriftCreds = issueTurnCredentials(SECRET, 'gateway', 600, now);
      const started = Date.now();
      let werift: Werift | undefined;
      let pageId: number | undefined;
      try {
        const offer = await call<PageOffer>('offer', { iceServers: iceServers(turn, chromiumCreds), iceTransportPolicy: 'relay' }, GATHER_MS);
        pageId = offer.id;
        expect(offer.candidateErrors, 'Chromium reported TURN errors while gathering').toEqual([]);
        const offerTypes = candidateTypes(offer.sdp);
        expect(offerTypes.length, `Chromium's offer has no candidates:\n${offer.sdp}`).toBeGreaterThan(0);
        expect(new Set(offerTypes)).toEqual(new Set(['relay']));

        const answered = await weriftAnswer(turn, weriftCreds, offer.sdp);
        werift = answered.peer;
        const answerTypes = candidateTypes(answered.sdp);
        expect(answerTypes.length, `werift's answer has no candidates:\n${answered.sdp}`).toBeGreaterThan(0);
        expect(new Set(answerTypes)).toEqual(new Set(['relay']));
        // Our relay is werift's only ICE server: nothing is sent to its default Google STUN server.
        expect(werift.pc.config.iceServers).toEqual(iceServers(turn, weriftCreds));

        await call('answer', offer.id, answered.sdp);
        const opened = await call<{
          open: boolean;
          setupMs: number | null;
          connectionState: string;
          states: string[];
          candidateErrors: unknown[];
          maxMessageSize: number | null;
        }>('waitOpen', offer.id, CONNECT_MS);
        expect(opened.open, `Chromium's data channel did not open: ${JSON.stringify(opened)}; relay log: ${JSON.stringify(turnLog.slice(-20))}`).toBe(true);
        const dc = await withTimeout(werift.channel, CONNECT_MS, "werift's data channel open");
        const setupMs = Date.now() - started;
        const atOpen = turn.server.metrics;
        // werift answers max-message-size 65536 (its default); 64 KiB messages are exactly at the limit.
        expect(opened.maxMessageSize).toBe(65536);

        // Both selected pairs are relay ↔ relay through our server.
        const chromiumPair = await call<PageSelectedPair | null>('selectedPair', offer.id);
        expect(chromiumPair, 'Chromium has no selected candidate pair').not.toBeNull();
        expect(chromiumPair!.local.candidateType).toBe('relay');
        expect(chromiumPair!.local.relayProtocol).toBe('udp');
        expect(chromiumPair!.remote.candidateType).toBe('relay');
        expect(chromiumPair!.local.address).toBe('127.0.0.1');
        const weriftPair = werift.pc.iceTransports[0]?.getSelectedCandidatePair();
        expect(weriftPair, 'werift has no selected candidate pair').toBeTruthy();
        expect(weriftPair!.local.candidate).toMatch(/ typ relay\b/);
        expect(weriftPair!.remote.candidate).toMatch(/ typ relay\b/);
        // Each side's remote relayed address is the other's local relayed address.
        expect(weriftPair!.remote.candidate).toContain(` ${chromiumPair!.local.port} typ relay`);
        expect(chromiumPair!.remote.port).toBe(Number(/ (\d+) typ relay/.exec(weriftPair!.local.candidate)?.[1]));

        // 200 messages each way at the same time.
        const transferStart = Date.now();
        const [fromChromium, fromWerift] = await Promise.all([
          call<PageStream>('send', offer.id, MESSAGES, TRANSFER_MS),
          weriftSend(dc, MESSAGES, TRANSFER_MS),
        ]);
        const chromiumGot = await call<PageStream>('received', offer.id, MESSAGES, TRANSFER_MS);
        const weriftArrived = await waitFor(() => werift!.received.length >= MESSAGES, TRANSFER_MS);
        const transferMs = Date.now() - transferStart;
        expect(weriftArrived, `werift received ${werift.received.length} of ${MESSAGES} messages`).toBe(true);
        expect(chromiumGot).toEqual(fromWerift);
        const weriftGot: PageStream = { count: werift.received.length, bytes: werift.receivedBytes, sha256: hashMessages(werift.received) };
        expect(weriftGot).toEqual(fromChromium);

        // The relay carried it: allocations for both peers, every payload byte in both directions
        // (DTLS/SCTP overhead on top), and nothing refused for want of a permission.
        const m = turn.server.metrics;
        expect(m.allocations - before.allocations).toBeGreaterThanOrEqual(2);
        const payload = fromChromium.bytes + fromWerift.bytes;
        // Each datagram crosses the relay once from a client to a relayed socket and once from
        // the peer's relayed socket back down to the other client.
        expect(m.bytesClientToPeer - before.bytesClientToPeer).toBeGreaterThan(payload);
        expect(m.bytesPeerToClient - before.bytesPeerToClient).toBeGreaterThan(payload);
        // werift, having the offer first, starts its checks towards Chromium's relayed address
        // before Chromium has the answer and so before Chromium's CreatePermission: the relay
        // rightly discards those (RFC 8656 §9) and ICE retransmits. That is the only kind of drop
        // allowed during setup, and once the channel is open nothing at all may be dropped.
        for (const reason of Object.keys(atOpen.dropped)) expect(reason).toBe('no_permission');
        expect(m.dropped).toEqual(atOpen.dropped);
        // Only the unauthenticated first requests were challenged; no credential was refused.
        expect(
          turnLog.slice(logStart).filter((l) => l.event === 'turn.auth.refused' || l.event === 'turn.peer.refused' || l.event === 'turn.request.refused'),
        ).toEqual([]);

        expect(offLoopback, 'UDP datagrams sent off loopback').toEqual([]);

        // Chromium releases its allocation when the connection closes (Refresh with LIFETIME 0).
        // (werift 0.24.4 does not: its TurnProtocol.close() only closes the socket, so its
        // allocation lives until the lifetime runs out.)
        await call('close', offer.id);
        pageId = undefined;
        const released = await waitFor(
          () =>
            turnLog
              .slice(logStart)
              .some((l) => l.event === 'turn.allocation.deleted' && l.fields['userId'] === 'chromium-user' && l.fields['why'] === 'refresh_zero'),
          5_000,
        );
        expect(released, `Chromium did not release its allocation: ${JSON.stringify(turnLog.slice(logStart))}`).toBe(true);

        console.info(
          `[chromium-relay] setup (offer → both channels open) ${setupMs} ms, Chromium gathering ${offer.gatherMs} ms, Chromium offer → open ${opened.setupMs} ms; ` +
            `${MESSAGES} messages each way (${fromChromium.bytes} B Chromium → werift, ${fromWerift.bytes} B werift → Chromium) in ${transferMs} ms; ` +
            `relay: ${m.allocations - before.allocations} allocations, dropped during setup ${JSON.stringify(atOpen.dropped)}, ${m.packetsClientToPeer - before.packetsClientToPeer} + ${m.packetsPeerToClient - before.packetsPeerToClient} packets, ` +
            `${m.bytesClientToPeer - before.bytesClientToPeer} + ${m.bytesPeerToClient - before.bytesPeerToClient} B, dropped after open ${totalDropped(m) - totalDropped(atOpen)}`,
        );
      } finally {
        if (pageId !== undefined) await call('close', pageId).catch(() => {});
        await closeWerift(werift);
      }
    },
    CONNECT_MS + 2 * TRANSFER_MS + GATHER_MS * 2,
  );

  it(
    'Chromium with a wrong TURN password gets no relay candidate and never connects; the relay counts the failures',
    async () => {
      const before = turn.server.metrics;
      const logStart = turnLog.length;
      const now = Date.now();
      const good = issueTurnCredentials(SECRET, 'chromium-user', 600, now);
      const wrong = { username: good.username, password: issueTurnCredentials('another-secret-0123456789', 'chromium-user', 600, now).password };
      const weriftCreds = issueTurnCredentials(SECRET, 'gateway', 600, now);
      let werift: Werift | undefined;
      let pageId: number | undefined;
      try {
        const offer = await call<PageOffer>('offer', { iceServers: iceServers(turn, wrong), iceTransportPolicy: 'relay' }, GATHER_MS);
        pageId = offer.id;
        expect(candidateTypes(offer.sdp)).toEqual([]);
        // Chromium reports the refusal (401) as an icecandidateerror.
        expect(offer.candidateErrors.map((e) => e.errorCode)).toContain(401);

        const answered = await weriftAnswer(turn, weriftCreds, offer.sdp);
        werift = answered.peer;
        await call('answer', offer.id, answered.sdp);
        // With no candidate of its own Chromium never even reaches 'failed': the wait is the bound.
        const opened = await call<{ open: boolean; connectionState: string; states: string[] }>('waitOpen', offer.id, REFUSED_MS);
        expect(opened.open, JSON.stringify(opened)).toBe(false);
        expect(opened.states, JSON.stringify(opened)).not.toContain('connected');
        expect(werift.pc.connectionState).not.toBe('connected');
        expect(offLoopback, 'UDP datagrams sent off loopback').toEqual([]);
        expect(turnLog.slice(logStart).filter((l) => l.event === 'turn.allocation.created' && l.fields['userId'] === 'chromium-user')).toEqual([]);

        const m = turn.server.metrics;
        // The unauthenticated first Allocate and the signed retry are both refused.
        expect(m.authFailures - before.authFailures).toBeGreaterThanOrEqual(2);
        expect(turnLog.some((l) => l.event === 'turn.auth.refused' && l.fields['reason'] === 'bad_integrity')).toBe(true);
      } finally {
        if (pageId !== undefined) await call('close', pageId).catch(() => {});
        await closeWerift(werift);
      }
    },
    GATHER_MS * 2 + REFUSED_MS + 10_000,
  );

  it(
    'Chromium with expired TURN credentials gets no relay candidate; the relay refuses them',
    async () => {
      const before = turn.server.metrics;
      // Issued two hours ago for one minute: a correct password for a dead username.
      const expired = issueTurnCredentials(SECRET, 'chromium-user', 60, Date.now() - 2 * 3600_000);
      let pageId: number | undefined;
      try {
        const offer = await call<PageOffer>('offer', { iceServers: iceServers(turn, expired), iceTransportPolicy: 'relay' }, GATHER_MS);
        pageId = offer.id;
        expect(candidateTypes(offer.sdp)).toEqual([]);
        expect(offer.candidateErrors.map((e) => e.errorCode)).toContain(401);
        const m = turn.server.metrics;
        expect(m.authFailures - before.authFailures).toBeGreaterThanOrEqual(2);
        // No new allocation (earlier tests' allocations may still be going away).
        expect(m.allocations).toBeLessThanOrEqual(before.allocations);
        expect(turnLog.some((l) => l.event === 'turn.auth.refused' && l.fields['reason'] === 'credentials_expired')).toBe(true);
      } finally {
        if (pageId !== undefined) await call('close', pageId).catch(() => {});
      }
    },
    GATHER_MS + 10_000,
  );
});
