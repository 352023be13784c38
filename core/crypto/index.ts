/**
 * Postern's cryptographic primitives. This is the only module in the repository that imports
 * @noble/*; everything else goes through here. Inputs and outputs are Uint8Array, no hidden state.
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
