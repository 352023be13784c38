/**
 * The transmission envelope: every vault→Router call and every device→Router call is
 * AES-256-GCM under a random per-request transmission key that the client wraps with
 * ECIES to the Router's public key (on top of TLS, as the seed's Router model describes).
 *
 * The additional authenticated data binds the ciphertext to the endpoint it was made for,
 * so a captured `record.get` payload cannot be replayed against `record.delete`. Inside it, a
 * vault request carries a timestamp and a random nonce (VaultRequestFrame), so a captured
 * request cannot be replayed against the same command either.
 */
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  eciesDecrypt,
  eciesEncrypt,
  fromBase64Url,
  fromUtf8,
  generateAesKey,
  randomBytes,
  sha256,
  toBase64Url,
  utf8,
} from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

export const ENVELOPE_VERSION = 1;

/** What travels on the wire for a vault call: JSON with two base64url strings. */
export interface WireEnvelope {
  v: typeof ENVELOPE_VERSION;
  key: string;
  payload: string;
}

export function envelopeAad(route: string): Uint8Array {
  return utf8(`postern/${route}`);
}

export interface SealedRequest {
  transmissionKey: Uint8Array;
  wrappedKey: Uint8Array;
  ciphertext: Uint8Array;
}

/** Client side: encrypt a JSON value for `route` to the Router's public key. */
export async function sealRequest(routerPublicKey: Uint8Array, route: string, value: unknown): Promise<SealedRequest> {
  return sealWithKey(await newTransmissionKey(routerPublicKey), route, value);
}

/** A transmission key and its ECIES wrap to the Router, for one request or (reused) for a session. */
export interface TransmissionKey {
  transmissionKey: Uint8Array;
  wrappedKey: Uint8Array;
}

export async function newTransmissionKey(routerPublicKey: Uint8Array): Promise<TransmissionKey> {
  const transmissionKey = generateAesKey();
  return { transmissionKey, wrappedKey: await eciesEncrypt(routerPublicKey, transmissionKey) };
}

/** How long a client reuses one transmission key; well inside the Router's memo of it (an hour). */
export const TRANSMISSION_KEY_REUSE_MS = 30 * 60 * 1000;
/** And for how many requests at most (AES-GCM with random nonces is good for 2^32 under one key). */
export const TRANSMISSION_KEY_REUSE_REQUESTS = 100_000;

/**
 * Client side: one transmission key reused across requests, so the Router unwraps it (an ECDH)
 * once rather than per request; replaced after TRANSMISSION_KEY_REUSE_MS or _REQUESTS.
 * Replay protection does not depend on it: each request still carries its own timestamp and
 * nonce under the key.
 */
export class ReusedTransmissionKey {
  private readonly routerPublicKey: Uint8Array;
  private readonly now: () => number;
  private current: { key: Promise<TransmissionKey>; createdAt: number; uses: number } | null = null;

  constructor(routerPublicKey: Uint8Array, now: () => number = Date.now) {
    this.routerPublicKey = routerPublicKey;
    this.now = now;
  }

  next(): Promise<TransmissionKey> {
    const now = this.now();
    const c = this.current;
    if (!c || c.uses >= TRANSMISSION_KEY_REUSE_REQUESTS || now - c.createdAt > TRANSMISSION_KEY_REUSE_MS) {
      const key = newTransmissionKey(this.routerPublicKey);
      this.current = { key, createdAt: now, uses: 1 };
      key.catch(() => {
        if (this.current?.key === key) this.current = null;
      });
      return key;
    }
    c.uses++;
    return c.key;
  }
}

/** Client side: encrypt a JSON value for `route` under an existing transmission key. */
export async function sealWithKey(key: TransmissionKey, route: string, value: unknown): Promise<SealedRequest> {
  const ciphertext = await aesGcmEncrypt(key.transmissionKey, utf8(JSON.stringify(value)), envelopeAad(route));
  return { transmissionKey: key.transmissionKey, wrappedKey: key.wrappedKey, ciphertext };
}

/** Router side: recover the transmission key; a bad wrap is the client's fault, not a crash. */
export async function unwrapTransmissionKey(routerPrivateKey: Uint8Array, wrappedKey: Uint8Array): Promise<Uint8Array> {
  let key: Uint8Array;
  try {
    key = await eciesDecrypt(routerPrivateKey, wrappedKey);
  } catch {
    throw new PosternError(
      'decrypt_failed',
      'The transmission key could not be unwrapped with this Router’s key. If the Router was re-keyed, run `postern login` again.',
    );
  }
  if (key.length !== 32) throw new PosternError('bad_request', 'The transmission key must be 32 bytes.');
  return key;
}

/** Either side: decrypt and parse a JSON payload sealed under the transmission key. */
export async function openJson(transmissionKey: Uint8Array, route: string, ciphertext: Uint8Array): Promise<unknown> {
  let plaintext: Uint8Array;
  try {
    plaintext = await aesGcmDecrypt(transmissionKey, ciphertext, envelopeAad(route));
  } catch {
    throw new PosternError('decrypt_failed', 'The request payload failed authentication under its transmission key.');
  }
  try {
    return JSON.parse(fromUtf8(plaintext));
  } catch {
    throw new PosternError('bad_request', 'The decrypted payload is not valid JSON.');
  }
}

export async function sealJson(transmissionKey: Uint8Array, route: string, value: unknown): Promise<Uint8Array> {
  return aesGcmEncrypt(transmissionKey, utf8(JSON.stringify(value)), envelopeAad(route));
}

export function toWireEnvelope(sealed: SealedRequest): WireEnvelope {
  return { v: ENVELOPE_VERSION, key: toBase64Url(sealed.wrappedKey), payload: toBase64Url(sealed.ciphertext) };
}

/** Router side: validate the outer JSON shape before any crypto runs. */
export function parseWireEnvelope(value: unknown): { wrappedKey: Uint8Array; ciphertext: Uint8Array } {
  if (typeof value !== 'object' || value === null) throw new PosternError('bad_request', 'Expected a JSON envelope {v, key, payload}.');
  const { v, key, payload } = value as Record<string, unknown>;
  if (v !== ENVELOPE_VERSION)
    throw new PosternError('bad_request', `Unsupported envelope version ${JSON.stringify(v)}; this Router speaks version ${ENVELOPE_VERSION}.`);
  if (typeof key !== 'string' || typeof payload !== 'string')
    throw new PosternError('bad_request', 'Envelope fields "key" and "payload" must be base64url strings.');
  return { wrappedKey: fromBase64Url(key), ciphertext: fromBase64Url(payload) };
}

/**
 * The vault request header naming the session before the body is read: SHA-256 of the session
 * token (what the Router stores), never the token itself, which travels only inside the sealed
 * payload and must match it. Lets the Router refuse an unauthenticated request from its headers.
 */
export const VAULT_SESSION_HEADER = 'x-postern-session';

/** The session id a vault client sends in VAULT_SESSION_HEADER for this session token. */
export function sessionIdOf(sessionToken: string): string {
  return toBase64Url(sha256(utf8(sessionToken)));
}

/** How far a vault request's timestamp may be from the Router's clock, either way. */
export const VAULT_REQUEST_MAX_SKEW_MS = 5 * 60 * 1000;

/** What a vault request seals: the session token (absent for public commands), the command's body, and freshness. */
export interface VaultRequestFrame {
  session?: string;
  body: unknown;
  timestamp: number;
  nonce: string;
}

/** Client side: a fresh frame for one request (a new nonce every call, even for a retry). */
export function vaultRequestFrame(body: unknown, session: string | undefined, now: number = Date.now()): VaultRequestFrame {
  return { ...(session !== undefined ? { session } : {}), body, timestamp: now, nonce: toBase64Url(randomBytes(16)) };
}

/** Router side: validate an opened vault payload; a client too old to send timestamp and nonce is told to upgrade. */
export function parseVaultRequestFrame(value: unknown): VaultRequestFrame {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PosternError('bad_request', 'The payload must be an object {session?, body, timestamp, nonce}.');
  }
  const { session, body, timestamp, nonce } = value as Record<string, unknown>;
  if (timestamp === undefined && nonce === undefined) {
    throw new PosternError(
      'bad_request',
      'This client is older than the Router: its requests carry no timestamp and nonce, so they could be replayed. Upgrade the postern CLI (or the vault) and try again.',
    );
  }
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0)
    throw new PosternError('bad_request', 'The payload timestamp must be a positive integer (milliseconds since the epoch).');
  if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{22,86}$/.test(nonce))
    throw new PosternError('bad_request', 'The payload nonce must be 16 to 64 random bytes, base64url.');
  if (session !== undefined && typeof session !== 'string') throw new PosternError('bad_request', 'The payload session must be a string.');
  return { ...(session !== undefined ? { session } : {}), body, timestamp, nonce };
}
