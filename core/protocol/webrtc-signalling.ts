/**
 * End-to-end encrypted WebRTC signalling for tunnels (the `webrtc-session` action).
 *
 * The vault and the gateway both hold the resource record, and inside it a random
 * `trafficEncryptionSeed`. From it each side derives the signalling key
 *
 *   key = HKDF-SHA256(ikm = seed, salt = "postern/webrtc-signalling/v1", info = resource UID)
 *
 * and seals the offer (vault → gateway) and the answer (gateway → vault) with AES-256-GCM,
 * bound by associated data to the resource, the session id and the direction. The Router
 * relays the sealed strings and sees neither SDP nor ICE candidates (addresses, DTLS
 * fingerprints). Signalling is not trickled: each side gathers its candidates first and sends
 * one complete description, so one round trip through the Router sets a session up.
 *
 * Replay: the offer carries the time it was made; the gateway refuses offers older than
 * OFFER_MAX_AGE_MS (or from further in the future) and remembers session ids it has answered
 * for that long (gateway/tunnel/replay-guard.ts). A replayed offer could not complete anyway:
 * the DTLS fingerprint in it belongs to a key only the original vault holds.
 */
import { z } from 'zod';
import { fromBase64Url, hkdfSha256, openJsonValue, randomBytes, sealJsonValue, toBase64Url, utf8 } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

export const SIGNALLING_SEED_LENGTH = 32;
export const OFFER_MAX_AGE_MS = 60_000;
/** An SDP with every candidate of a multi-homed host stays far below this. */
const MAX_SDP_CHARS = 64 * 1024;
const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** A new random seed for a resource record (base64url, 32 bytes). */
export function newTrafficEncryptionSeed(): string {
  return toBase64Url(randomBytes(SIGNALLING_SEED_LENGTH));
}

export function newSignallingSessionId(): string {
  return toBase64Url(randomBytes(18));
}

export function isSignallingSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value);
}

export function deriveSignallingKey(seed: string, resourceUid: string): Uint8Array {
  let ikm: Uint8Array;
  try {
    ikm = fromBase64Url(seed);
  } catch {
    throw new PosternError(
      'bad_state',
      `Resource ${resourceUid} has a malformed trafficEncryptionSeed; clear it with \`postern record edit ${resourceUid} --field trafficEncryptionSeed=\` and start the tunnel again (a new one is made).`,
    );
  }
  if (ikm.length < 16) throw new PosternError('bad_state', `Resource ${resourceUid} has a trafficEncryptionSeed shorter than 128 bits.`);
  return hkdfSha256(ikm, utf8('postern/webrtc-signalling/v1'), utf8(resourceUid), 32);
}

const description = z.strictObject({ type: z.enum(['offer', 'answer']), sdp: z.string().min(1).max(MAX_SDP_CHARS) });
/**
 * The largest SCTP packet the sender accepts (bytes; 1,228 is what every WebRTC stack sends). A
 * peer that names more may be probed for larger packets (node/webrtc/sctp-path-mtu.ts); one that
 * names nothing never is. Not in SDP: no SDP attribute says it, and browsers close their data
 * channel on a packet above their own limit.
 */
const sctpMaxPacket = z.number().int().min(1228).max(16384).optional();

/** What the vault asks for: a connection to the record's target (or one it names) and its SDP. */
export const signallingOfferSchema = z.strictObject({
  v: z.literal(1),
  sessionId: z.string().regex(SESSION_ID),
  issuedAt: z.number().int().nonnegative(),
  description,
  sctpMaxPacket,
});
export type SignallingOffer = z.infer<typeof signallingOfferSchema>;

export const signallingAnswerSchema = z.strictObject({
  v: z.literal(1),
  sessionId: z.string().regex(SESSION_ID),
  description,
  /** What the gateway will dial when the vault names no target (shown to the user). */
  target: z.strictObject({ host: z.string().max(255), port: z.number().int().min(1).max(65535) }),
  sctpMaxPacket,
});
export type SignallingAnswer = z.infer<typeof signallingAnswerSchema>;

type Direction = 'offer' | 'answer';
const purpose = (direction: Direction, resourceUid: string, sessionId: string) => `webrtc-${direction}/${resourceUid}/${sessionId}`;

export async function sealSignalling(key: Uint8Array, resourceUid: string, message: SignallingOffer | SignallingAnswer): Promise<string> {
  const direction: Direction = message.description.type;
  return sealJsonValue(key, message, purpose(direction, resourceUid, message.sessionId));
}

async function open<T>(schema: z.ZodType<T>, direction: Direction, key: Uint8Array, resourceUid: string, sessionId: string, sealed: unknown): Promise<T> {
  if (typeof sealed !== 'string' || sealed.length > 2 * MAX_SDP_CHARS)
    throw new PosternError('bad_request', `The sealed ${direction} is missing or too large.`);
  let value: unknown;
  try {
    value = await openJsonValue(key, sealed, purpose(direction, resourceUid, sessionId));
  } catch {
    // Wrong seed (the record changed), tampering by a relay, or a different session: all one answer.
    throw new PosternError('decrypt_failed', `The ${direction} for session ${sessionId} could not be decrypted with resource ${resourceUid}'s signalling key.`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new PosternError('bad_request', `The ${direction} is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}.`);
  const message = parsed.data as { sessionId: string; description: { type: string } };
  if (message.sessionId !== sessionId || message.description.type !== direction)
    throw new PosternError('bad_request', `The ${direction} belongs to another session.`);
  return parsed.data;
}

export async function openSignallingOffer(key: Uint8Array, resourceUid: string, sessionId: string, sealed: unknown, now: number): Promise<SignallingOffer> {
  const offer = await open(signallingOfferSchema, 'offer', key, resourceUid, sessionId, sealed);
  if (Math.abs(now - offer.issuedAt) > OFFER_MAX_AGE_MS) {
    throw new PosternError(
      'request_expired',
      `The offer for session ${sessionId} was made ${Math.round((now - offer.issuedAt) / 1000)} s from now; offers live ${OFFER_MAX_AGE_MS / 1000} s (check both clocks).`,
    );
  }
  return offer;
}

export async function openSignallingAnswer(key: Uint8Array, resourceUid: string, sessionId: string, sealed: unknown): Promise<SignallingAnswer> {
  return open(signallingAnswerSchema, 'answer', key, resourceUid, sessionId, sealed);
}
