// Test fixture (plain JS, run with `node` in a child process): werift 0.24.4 exactly as
// shipped — the `werift-stock` package (npm alias of werift@0.24.4, which patch-package does not
// touch) — so the interop test can talk to it from a process running the patched `werift`.
// Protocol over IPC: {offer} -> {answer}; then on the channel: the peer receives `expect`
// bytes and replies on IPC with their sha256, and on {cmd:'send', bytes, seed} sends that
// many deterministic bytes as 64 KiB messages (respecting bufferedAmount) to the parent.
import { createHash } from 'node:crypto';
import * as stock from 'werift-stock';

const { RTCPeerConnection } = stock;
if ('posternPatches' in stock) throw new Error('werift-stock carries Postern patches: it must be werift as shipped');

// A STUN server on the discard port of loopback: keeps unpatched werift from falling back to
// Google's STUN server (it would, with an empty list); its query fails quietly.
const pc = new RTCPeerConnection({ iceServers: [{ urls: 'stun:127.0.0.1:9' }], iceUseIpv6: false });
let channel;
let expected = 0;
let received = 0;
const hash = createHash('sha256');

function pattern(seed, offset, length) {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = ((seed * 31 + (offset + i) * 2654435761) >>> 13) & 0xff;
  return buf;
}

pc.onDataChannel.subscribe((ch) => {
  channel = ch;
  ch.onMessage.subscribe((m) => {
    hash.update(m);
    received += m.length;
    if (expected && received >= expected) process.send({ type: 'received', bytes: received, sha256: hash.digest('hex') });
  });
  process.send({ type: 'channel' });
});

process.on('message', async (m) => {
  if (m.type === 'offer') {
    await pc.setRemoteDescription(m.sdp);
    await pc.setLocalDescription(await pc.createAnswer());
    const deadline = Date.now() + 5000;
    while (pc.iceGatheringState !== 'complete' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    process.send({ type: 'answer', sdp: pc.localDescription });
  } else if (m.type === 'expect') {
    expected = m.bytes;
  } else if (m.type === 'send') {
    channel.bufferedAmountLowThreshold = 256 * 1024;
    for (let off = 0; off < m.bytes; off += 65536) {
      while (channel.bufferedAmount > 1024 * 1024) await new Promise((r) => setTimeout(r, 2));
      channel.send(pattern(m.seed, off, Math.min(65536, m.bytes - off)));
    }
    process.send({ type: 'sent' });
  } else if (m.type === 'close') {
    await pc.close();
    process.exit(0);
  }
});
process.send({ type: 'ready' });
