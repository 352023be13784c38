/**
 * Postern's cryptographic primitives. This is the only module in the repository that imports
 * @noble/*; everything else goes through here. Inputs and outputs are Uint8Array.
 *
 * ECDH, ECDSA, ECIES and AES-GCM are asynchronous: they run natively where the runtime allows,
 * in node:crypto (node-crypto.ts, synchronous OpenSSL) or else the platform's WebCrypto
 * (webcrypto.ts), both keeping imported keys (key-cache.ts), and in @noble otherwise (noble.ts,
 * also the reference the known-answer tests hold both native paths to). Callers never choose
 * and cannot tell. An input buffer may be read after the call returns: do not change it before the
 * promise settles. Hashes, HMAC and HKDF stay synchronous (docs/decisions/0008-native-crypto.md).
 */
export * from './bytes.ts';
export * from './aes-gcm.ts';
export * from './kdf.ts';
export * from './account-keys.ts';
export * from './ecdsa.ts';
export * from './ecies.ts';
export * from './client-id.ts';
export * from './sealed-values.ts';
export * from './stun.ts';
export * from './turn-rest.ts';
export * from './router-subkeys.ts';
