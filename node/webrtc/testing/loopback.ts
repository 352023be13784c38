/**
 * Test and benchmark helper: connects two in-process peer connections with non-trickle
 * signalling (offer/answer carry every candidate) and returns the opened ordered channel pair.
 */
import type { RTCDataChannel, RTCPeerConnection } from 'werift';
import { waitForIceGatheringComplete } from '../peer.ts';

export async function connectPair(
  offerer: RTCPeerConnection,
  answerer: RTCPeerConnection,
  label = 'tunnel',
  timeoutMs = 20_000,
): Promise<{ offererChannel: RTCDataChannel; answererChannel: RTCDataChannel }> {
  const offererChannel = offerer.createDataChannel(label, { ordered: true });
  const remote = new Promise<RTCDataChannel>((resolve) => {
    answerer.onDataChannel.subscribe((ch) => resolve(ch));
  });
  await offerer.setLocalDescription(await offerer.createOffer());
  await waitForIceGatheringComplete(offerer, 5_000);
  await answerer.setRemoteDescription(offerer.localDescription!);
  await answerer.setLocalDescription(await answerer.createAnswer());
  await waitForIceGatheringComplete(answerer, 5_000);
  await offerer.setRemoteDescription(answerer.localDescription!);
  const opened = (ch: RTCDataChannel) =>
    ch.readyState === 'open' ? Promise.resolve() : new Promise<void>((resolve) => ch.stateChanged.subscribe((s) => s === 'open' && resolve()));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('data channel did not open')), timeoutMs);
  });
  try {
    const answererChannel = await Promise.race([remote, timeout]);
    await Promise.race([Promise.all([opened(offererChannel), opened(answererChannel)]), timeout]);
    return { offererChannel, answererChannel };
  } finally {
    clearTimeout(timer);
  }
}
