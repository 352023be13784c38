/**
 * Interop with a real browser stack: headless Chromium (Debian `chromium`, driven by
 * playwright-core) offers, patched werift (createPeerConnection) answers — the gateway's role —
 * and 8 MiB cross the ordered channel in each direction, byte-exact. Skipped when no Chromium
 * binary is installed.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { RTCDataChannel } from 'werift';
import { createPeerConnection, waitForIceGatheringComplete } from './peer.ts';
import { requireService } from '../../test/support/services.ts';

// scripts/test.sh finds or installs Chromium and names it; by hand, Debian's usual paths.
const CHROMIUM = requireService(
  'Chromium',
  'POSTERN_TEST_CHROMIUM',
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)),
);
const TOTAL = 8 * 1024 * 1024;

/** What the page's evaluate callbacks keep on `window` between calls (types only: they run in Chromium). */
type PageGlobals = Window & {
  pc: RTCPeerConnection;
  /** The DOM's data channel (`RTCDataChannel` in this file is werift's). */
  dc: ReturnType<RTCPeerConnection['createDataChannel']>;
  received: ArrayBuffer[];
  receivedBytes: number;
};

function pattern(length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 131 + (i >>> 11)) & 0xff;
  return b;
}

function fnv1a(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193) >>> 0;
  return h;
}

describe.skipIf(!CHROMIUM)('Chromium ↔ patched werift', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('opens an ordered channel (Chromium offers, werift answers) and moves 8 MiB each way byte-exact', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
    const page = await browser.newPage();
    const offer = await page.evaluate(async () => {
      const w = window as unknown as PageGlobals;
      const pc = new RTCPeerConnection({ iceServers: [] });
      const dc = pc.createDataChannel('tunnel', { ordered: true });
      dc.binaryType = 'arraybuffer';
      w.pc = pc;
      w.dc = dc;
      w.received = [] as ArrayBuffer[];
      w.receivedBytes = 0;
      dc.onmessage = (e: MessageEvent) => {
        w.received.push(e.data);
        w.receivedBytes += (e.data as ArrayBuffer).byteLength;
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((r) => {
        if (pc.iceGatheringState === 'complete') r();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
        setTimeout(r, 3000);
      });
      return { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp };
    });

    const pc = createPeerConnection({ iceServers: [] });
    try {
      const channelP = new Promise<RTCDataChannel>((r) => pc.onDataChannel.subscribe(r));
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      await waitForIceGatheringComplete(pc, 5000);
      const answer = pc.localDescription!;
      await page.evaluate(
        async (a) => {
          const w = window as unknown as PageGlobals;
          await w.pc.setRemoteDescription(a);
          await new Promise<void>((r, f) => {
            if (w.dc.readyState === 'open') r();
            w.dc.onopen = () => r();
            setTimeout(() => f(new Error('channel did not open in Chromium')), 20_000);
          });
        },
        { type: answer.type, sdp: answer.sdp },
      );
      const channel = await channelP;
      expect(await page.evaluate(() => (window as unknown as PageGlobals).pc.sctp?.maxMessageSize)).toBe(256 * 1024);

      // Chromium → werift
      const hash = createHash('sha256');
      let got = 0;
      const done = new Promise<void>((resolve) =>
        channel.onMessage.subscribe((m) => {
          hash.update(m as Buffer);
          got += (m as Buffer).length;
          if (got >= TOTAL) resolve();
        }),
      );
      let t0 = Date.now();
      await page.evaluate(async (total) => {
        const w = window as unknown as PageGlobals;
        const dc = w.dc;
        dc.bufferedAmountLowThreshold = 256 * 1024;
        const buf = new Uint8Array(total);
        for (let i = 0; i < total; i++) buf[i] = (i * 131 + (i >>> 11)) & 0xff;
        for (let off = 0; off < total; off += 65536) {
          while (dc.bufferedAmount > 1024 * 1024) await new Promise<void>((r) => (dc.onbufferedamountlow = () => r()));
          dc.send(buf.subarray(off, off + 65536));
        }
      }, TOTAL);
      await done;
      const upMBps = TOTAL / 1e6 / ((Date.now() - t0) / 1000);
      expect(got).toBe(TOTAL);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(pattern(TOTAL)).digest('hex'));

      // werift → Chromium
      const data = pattern(TOTAL);
      channel.bufferedAmountLowThreshold = 256 * 1024;
      t0 = Date.now();
      for (let off = 0; off < TOTAL; off += 65536) {
        while (channel.bufferedAmount > 1024 * 1024) await new Promise<void>((r) => channel.bufferedAmountLow.once(() => r()));
        channel.send(data.subarray(off, off + 65536));
      }
      const digest = await page.evaluate(async (total) => {
        const w = window as unknown as PageGlobals;
        const deadline = Date.now() + 60_000;
        while (w.receivedBytes < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        // about:blank is not a secure context (no crypto.subtle): FNV-1a over every byte, in order.
        let h = 0x811c9dc5;
        for (const part of w.received as ArrayBuffer[]) {
          const u = new Uint8Array(part);
          for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i]!, 0x01000193) >>> 0;
        }
        return { bytes: w.receivedBytes as number, fnv: h, at: Date.now() };
      }, TOTAL);
      const downMBps = TOTAL / 1e6 / ((digest.at - t0) / 1000);
      console.info(`Chromium → werift ${upMBps.toFixed(1)} MB/s, werift → Chromium ≥ ${downMBps.toFixed(1)} MB/s (8 MiB, includes hashing in the page)`);
      expect(digest.bytes).toBe(TOTAL);
      expect(digest.fnv).toBe(fnv1a(data));
    } finally {
      await pc.close();
    }
  }, 150_000);
});
