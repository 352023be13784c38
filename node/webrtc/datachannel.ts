/**
 * werift's RTCDataChannel as the tunnel multiplexer's FrameChannel (core/tunnel/channel.ts):
 * binary messages only, the peer's negotiated max-message-size, and werift's bufferedAmount
 * events for back-pressure. Nothing else of werift leaks into the tunnel code.
 */
import type { RTCDataChannel } from 'werift';
import type { FrameChannel } from '../../core/tunnel/channel.ts';

/** werift's default when the remote SDP names no max-message-size (RFC 8841 says 64 KiB). */
const DEFAULT_REMOTE_MAX_MESSAGE_SIZE = 65_536;

export function frameChannelOf(dc: RTCDataChannel): FrameChannel {
  let closed = dc.readyState === 'closed';
  const closeCallbacks: (() => void)[] = [];
  // Each callback runs once: splice empties the list, so a second close finds nothing to call.
  const fireClose = () => {
    closed = true;
    for (const cb of closeCallbacks.splice(0)) cb();
  };
  dc.stateChanged.subscribe((state) => {
    if (state === 'closed') fireClose();
  });
  return {
    send(message) {
      if (closed || dc.readyState !== 'open') return;
      // werift wants a Buffer; wrapping shares memory, no copy.
      dc.send(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
    },
    get bufferedAmount() {
      return dc.bufferedAmount;
    },
    get maxMessageSize() {
      const remote = dc.sctp.remoteMaxMessageSize;
      return remote > 0 ? remote : DEFAULT_REMOTE_MAX_MESSAGE_SIZE;
    },
    onMessage(cb) {
      dc.onMessage.subscribe((data) => {
        // A string message is not ours (the protocol is binary); the mux treats it as malformed.
        if (typeof data === 'string') cb(new Uint8Array(0));
        else cb(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      });
    },
    onBufferedAmountLow(threshold, cb) {
      dc.bufferedAmountLowThreshold = threshold;
      dc.bufferedAmountLow.subscribe(() => cb());
    },
    onClose(cb) {
      if (closed) queueMicrotask(cb);
      else closeCallbacks.push(cb);
    },
    close() {
      if (dc.readyState === 'open' || dc.readyState === 'connecting') dc.close();
      // werift does not always report closed for a channel closed locally before its peer answers.
      fireClose();
    },
  };
}
