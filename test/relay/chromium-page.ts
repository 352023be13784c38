/**
 * The browser half of test/relay/chromium-relay.test.ts: plain JavaScript run inside Chromium,
 * kept as a string (not functions handed to page.evaluate) so the test's TypeScript transform
 * cannot slip helpers such as esbuild's `__name` into code that runs in the page.
 *
 * It installs `window.__relayTest`, whose methods the test calls with page.evaluate(string) and
 * JSON arguments. Everything it waits for is bounded by a timeout passed in by the test. Payload
 * bytes come from crypto.getRandomValues; each side hashes what it sent and what it received
 * (SHA-256 over a 4-byte big-endian length, then the bytes, per message), so equal hashes mean
 * the same messages, in the same order, with the same boundaries.
 *
 * The page must be a secure context for crypto.subtle: the test serves it as
 * http://127.0.0.1:9/ through page.route (no socket is opened for it).
 */

/** Size of message `i` (both directions): every tenth a 16 KiB one, every tenth a 64 KiB one. */
export function messageSize(i: number): number {
  if (i % 10 === 3) return 16 * 1024;
  if (i % 10 === 7) return 64 * 1024;
  return 1 + ((i * 7919) % 4096);
}

/** What the page reports about the candidate pair its ICE transport selected (getStats). */
export interface PageCandidate {
  candidateType: string;
  address: string;
  port: number;
  protocol: string;
  relayProtocol?: string;
}

export interface PageSelectedPair {
  local: PageCandidate;
  remote: PageCandidate;
  nominated: boolean;
  state: string;
  bytesSent: number;
  bytesReceived: number;
}

export interface PageOffer {
  id: number;
  sdp: string;
  gatherMs: number;
  candidateErrors: { errorCode: number; errorText: string; url: string }[];
}

export interface PageStream {
  count: number;
  bytes: number;
  sha256: string;
}

export const PAGE_SCRIPT = `
(() => {
  const SIZE = ${messageSize.toString()};
  const entries = new Map();
  let nextId = 1;

  function entry(id) {
    const e = entries.get(id);
    if (!e) throw new Error('no peer connection ' + id);
    return e;
  }

  /** Resolves when check() is true (re-checked on the given events and every 50 ms), or rejects after ms. */
  function until(target, events, check, ms, what) {
    return new Promise((resolve, reject) => {
      let timer, poll;
      const done = (err) => {
        clearTimeout(timer);
        clearInterval(poll);
        for (const ev of events) target.removeEventListener(ev, test);
        if (err) reject(err); else resolve();
      };
      const test = () => { try { if (check()) done(); } catch (e) { done(e); } };
      timer = setTimeout(() => done(new Error(what + ' did not happen within ' + ms + ' ms')), ms);
      poll = setInterval(test, 50);
      for (const ev of events) target.addEventListener(ev, test);
      test();
    });
  }

  async function sha256(chunks) {
    let total = 0;
    for (const c of chunks) total += 4 + c.length;
    const all = new Uint8Array(total);
    const view = new DataView(all.buffer);
    let at = 0;
    for (const c of chunks) {
      view.setUint32(at, c.length);
      all.set(c, at + 4);
      at += 4 + c.length;
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function candidate(stats, id) {
    const c = stats.get(id);
    if (!c) return null;
    return { candidateType: c.candidateType, address: c.address, port: c.port, protocol: c.protocol, relayProtocol: c.relayProtocol };
  }

  window.__relayTest = {
    /** A peer connection with an ordered data channel; resolves with the offer once gathering completes. */
    async offer(config, gatherMs) {
      const id = nextId++;
      const pc = new RTCPeerConnection(config);
      const e = { pc, dc: null, candidateErrors: [], states: [], received: [], receivedBytes: 0, t0: performance.now(), openedAt: null };
      entries.set(id, e);
      pc.addEventListener('icecandidateerror', (ev) => e.candidateErrors.push({ errorCode: ev.errorCode, errorText: ev.errorText, url: ev.url }));
      pc.addEventListener('connectionstatechange', () => e.states.push(pc.connectionState));
      const dc = pc.createDataChannel('postern-tunnel', { ordered: true });
      dc.binaryType = 'arraybuffer';
      e.dc = dc;
      dc.addEventListener('open', () => { e.openedAt = performance.now(); });
      dc.addEventListener('message', (ev) => {
        const bytes = typeof ev.data === 'string' ? new TextEncoder().encode(ev.data) : new Uint8Array(ev.data);
        e.received.push(bytes);
        e.receivedBytes += bytes.length;
      });
      await pc.setLocalDescription(await pc.createOffer());
      await until(pc, ['icegatheringstatechange'], () => pc.iceGatheringState === 'complete', gatherMs, 'ICE gathering');
      return { id, sdp: pc.localDescription.sdp, gatherMs: Math.round(performance.now() - e.t0), candidateErrors: e.candidateErrors.slice() };
    },

    async answer(id, sdp) {
      await entry(id).pc.setRemoteDescription({ type: 'answer', sdp });
    },

    /** Waits for the data channel to open, or for the connection to fail, or ms. */
    async waitOpen(id, ms) {
      const e = entry(id);
      try {
        await until(e.dc, ['open'], () => e.dc.readyState === 'open' || e.pc.connectionState === 'failed', ms, 'data channel open');
      } catch (err) {
        // Reported as not open below; the caller decides whether that is a failure.
      }
      return {
        open: e.dc.readyState === 'open',
        setupMs: e.openedAt === null ? null : Math.round(e.openedAt - e.t0),
        connectionState: e.pc.connectionState,
        iceConnectionState: e.pc.iceConnectionState,
        states: e.states.slice(),
        candidateErrors: e.candidateErrors.slice(),
        maxMessageSize: e.pc.sctp ? e.pc.sctp.maxMessageSize : null,
      };
    },

    /** The candidate pair the ICE transport selected, from getStats. */
    async selectedPair(id) {
      const stats = await entry(id).pc.getStats();
      let pairId = null;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
      let pair = pairId ? stats.get(pairId) : null;
      if (!pair) stats.forEach((s) => { if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
      if (!pair) return null;
      return {
        local: candidate(stats, pair.localCandidateId),
        remote: candidate(stats, pair.remoteCandidateId),
        nominated: pair.nominated,
        state: pair.state,
        bytesSent: pair.bytesSent,
        bytesReceived: pair.bytesReceived,
      };
    },

    /** Sends count messages of SIZE(i) random bytes, keeping at most 1 MiB buffered; resolves once all are handed to SCTP. */
    async send(id, count, ms) {
      const e = entry(id);
      const dc = e.dc;
      const deadline = performance.now() + ms;
      const sent = [];
      let bytes = 0;
      dc.bufferedAmountLowThreshold = 256 * 1024;
      for (let i = 0; i < count; i++) {
        while (dc.bufferedAmount > 1024 * 1024) {
          const left = deadline - performance.now();
          if (left <= 0) throw new Error('send: ' + i + ' of ' + count + ' messages handed over, bufferedAmount stuck at ' + dc.bufferedAmount);
          await until(dc, ['bufferedamountlow'], () => dc.bufferedAmount <= 256 * 1024, left, 'bufferedamountlow').catch(() => {});
        }
        if (dc.readyState !== 'open') throw new Error('send: the data channel is ' + dc.readyState + ' after ' + i + ' messages');
        const m = new Uint8Array(SIZE(i));
        for (let at = 0; at < m.length; at += 65536) crypto.getRandomValues(m.subarray(at, at + 65536));
        dc.send(m);
        sent.push(m);
        bytes += m.length;
      }
      return { count, bytes, sha256: await sha256(sent) };
    },

    /** Waits until count messages have arrived (or ms), then hashes them. */
    async received(id, count, ms) {
      const e = entry(id);
      await until(e.dc, ['message'], () => e.received.length >= count, ms, count + ' messages received').catch(() => {});
      return { count: e.received.length, bytes: e.receivedBytes, sha256: await sha256(e.received.slice(0, count)) };
    },

    close(id) {
      const e = entries.get(id);
      if (!e) return;
      entries.delete(id);
      try { e.dc && e.dc.close(); } catch (err) {}
      e.pc.close();
    },
  };
})();
`;
