/**
 * What the tunnel multiplexer runs over: one ordered, reliable, message-oriented channel. In the
 * product it is a WebRTC data channel (werift's RTCDataChannel on the gateway and in the CLI);
 * in tests it is testing/memory-channel.ts. The shape follows RTCDataChannel so an adapter stays thin.
 */
export interface FrameChannel {
  /** Sends one message (at most maxMessageSize bytes). The channel may keep a reference to it. */
  send(message: Uint8Array): void;
  /** Bytes accepted by send() and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** The largest message the peer accepts (SCTP's negotiated max-message-size). */
  readonly maxMessageSize: number;
  /** Each message from the peer, whole and in order; the mux keeps views into it, so the channel must not reuse its memory. Set once. */
  onMessage(cb: (message: Uint8Array) => void): void;
  /** Called whenever bufferedAmount falls from above `threshold` to or below it. Set once. */
  onBufferedAmountLow(threshold: number, cb: () => void): void;
  /** Called once when the channel closes, whoever closed it. Set once. */
  onClose(cb: () => void): void;
  close(): void;
}
