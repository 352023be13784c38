/**
 * The legacy primitives STUN/TURN (RFC 8489, RFC 8656) cannot do without. Nothing else in
 * Postern should use them: they are here because the wire protocol fixes them, not by choice.
 *
 *   - HMAC-SHA1: MESSAGE-INTEGRITY (RFC 8489 §14.5) is HMAC-SHA1 by definition, and every
 *     deployed TURN client (browsers included) sends it. It is also the MAC of the TURN REST
 *     API / coturn `use-auth-secret` password, base64(HMAC-SHA1(secret, username)).
 *   - MD5: the long-term credential key is MD5(username ":" realm ":" password)
 *     (RFC 8489 §9.2.2, password algorithm MD5, the default and the only one browsers speak).
 *   - CRC-32: FINGERPRINT (RFC 8489 §14.7) is the IEEE 802.3 CRC-32 of the message XORed with
 *     0x5354554e. It detects STUN among other protocols on a shared port; it is not security.
 *
 * HMAC-SHA256 (MESSAGE-INTEGRITY-SHA256, §14.6) and SHA-256 (the SHA-256 password algorithm,
 * USERHASH) are the ones in kdf.ts. Same conventions as the rest of core/crypto: Uint8Array in
 * and out, no state, no `node:` imports (this runs on Workers too).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { md5 as nobleMd5, sha1 } from '@noble/hashes/legacy.js';

/** HMAC-SHA1 (RFC 2104), 20 bytes. For STUN MESSAGE-INTEGRITY and TURN REST passwords only. */
export function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(sha1, key, data);
}

/** MD5 (RFC 1321), 16 bytes. For the STUN long-term credential key only. */
export function md5(data: Uint8Array): Uint8Array {
  return nobleMd5(data);
}

/**
 * CRC-32 lookup table for the reflected IEEE 802.3 polynomial 0xEDB88320, built once at load
 * (1 KiB). Byte-at-a-time is plenty for STUN messages of at most 64 KiB.
 */
const CRC32_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 (IEEE 802.3, as in zlib, PNG and Ethernet) as an unsigned 32-bit number:
 * crc32(utf8("123456789")) === 0xCBF43926.
 */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC32_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
