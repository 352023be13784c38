/**
 * The transmission envelope: every vault→Router call and every device→Router call is
 * AES-256-GCM under a random per-request transmission key that the client wraps with
 * ECIES to the Router's public key (on top of TLS, as the seed's Router model describes).
 *
 * The additional authenticated data binds the ciphertext to the endpoint it was made for,
 * so a captured `record.get` payload cannot be replayed against `record.delete`.
 */
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  eciesDecrypt,
  eciesEncrypt,
  fromBase64Url,
  fromUtf8,
  generateAesKey,
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
export function sealRequest(routerPublicKey: Uint8Array, route: string, value: unknown): SealedRequest {
  const transmissionKey = generateAesKey();
  const wrappedKey = eciesEncrypt(routerPublicKey, transmissionKey);
  const ciphertext = aesGcmEncrypt(transmissionKey, utf8(JSON.stringify(value)), envelopeAad(route));
  return { transmissionKey, wrappedKey, ciphertext };
}

/** Router side: recover the transmission key; a bad wrap is the client's fault, not a crash. */
export function unwrapTransmissionKey(routerPrivateKey: Uint8Array, wrappedKey: Uint8Array): Uint8Array {
  let key: Uint8Array;
  try {
    key = eciesDecrypt(routerPrivateKey, wrappedKey);
  } catch {
    throw new PosternError('decrypt_failed', 'The transmission key could not be unwrapped with this Router’s key. If the Router was re-keyed, run `postern login` again.');
  }
  if (key.length !== 32) throw new PosternError('bad_request', 'The transmission key must be 32 bytes.');
  return key;
}

/** Either side: decrypt and parse a JSON payload sealed under the transmission key. */
export function openJson(transmissionKey: Uint8Array, route: string, ciphertext: Uint8Array): unknown {
  let plaintext: Uint8Array;
  try {
    plaintext = aesGcmDecrypt(transmissionKey, ciphertext, envelopeAad(route));
  } catch {
    throw new PosternError('decrypt_failed', 'The request payload failed authentication under its transmission key.');
  }
  try {
    return JSON.parse(fromUtf8(plaintext));
  } catch {
    throw new PosternError('bad_request', 'The decrypted payload is not valid JSON.');
  }
}

export function sealJson(transmissionKey: Uint8Array, route: string, value: unknown): Uint8Array {
  return aesGcmEncrypt(transmissionKey, utf8(JSON.stringify(value)), envelopeAad(route));
}

export function toWireEnvelope(sealed: SealedRequest): WireEnvelope {
  return { v: ENVELOPE_VERSION, key: toBase64Url(sealed.wrappedKey), payload: toBase64Url(sealed.ciphertext) };
}

/** Router side: validate the outer JSON shape before any crypto runs. */
export function parseWireEnvelope(value: unknown): { wrappedKey: Uint8Array; ciphertext: Uint8Array } {
  if (typeof value !== 'object' || value === null) throw new PosternError('bad_request', 'Expected a JSON envelope {v, key, payload}.');
  const { v, key, payload } = value as Record<string, unknown>;
  if (v !== ENVELOPE_VERSION) throw new PosternError('bad_request', `Unsupported envelope version ${JSON.stringify(v)}; this Router speaks version ${ENVELOPE_VERSION}.`);
  if (typeof key !== 'string' || typeof payload !== 'string') throw new PosternError('bad_request', 'Envelope fields "key" and "payload" must be base64url strings.');
  return { wrappedKey: fromBase64Url(key), ciphertext: fromBase64Url(payload) };
}
