/**
 * The STUN message codec against the test vectors of RFC 5769 (parsed byte-exact and rebuilt
 * byte-exact) and RFC 8489 Appendix B.1 (as corrected by verified erratum 6268), plus the
 * malformed inputs each check exists for.
 */
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';
import { codecs, encodeAttribute, readAttribute, UNDERSTOOD_ATTRIBUTES } from './attributes.ts';
import { ATTR, CLASSES, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, METHOD, PASSWORD_ALGORITHM } from './constants.ts';
import { longTermKey, userHash } from './credentials.ts';
import {
  buildStunMessage,
  decodeMessageType,
  encodeMessageType,
  getAttribute,
  getAttributes,
  isStunMessage,
  newTransactionId,
  parseStunMessage,
  significantAttributes,
  StunError,
  unknownComprehensionRequired,
  verifyFingerprint,
  verifyMessageIntegrity,
  verifyMessageIntegritySha256,
  type StunErrorReason,
} from './message.ts';
import { RFC5769_TID, hex } from './testing/stun-expectations.ts';

// RFC 5769 §2.1–§2.4, transcribed from the RFC's figures.
const RFC5769_SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';

const SAMPLE_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);

const SAMPLE_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);

const SAMPLE_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);

const LONG_TERM_TID = hex('78ad3433 c6ad72c0 29da412e');
const SAMPLE_LONG_TERM_REQUEST = hex(`
  00010060 2112a442 78ad3433 c6ad72c0 29da412e
  00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
  0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
  0014000b 6578616d 706c652e 6f726700
  00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666`);
// "マトリックス" (U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9); the RFC's password
// "The\u00ADM\u00AAtr\u2168" after SASLprep is "TheMatrIX" (credentials.ts: no SASLprep here).
const MATRIX_USER = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
const MATRIX_REALM = 'example.org';
const MATRIX_PASSWORD = 'TheMatrIX';
const MATRIX_NONCE = 'f//499k954d6OL34oL9FSTvy64sA';

// RFC 8489 Appendix B.1 with erratum 6268 applied (the published figure had a wrong length,
// password algorithm and MAC): USERHASH, PASSWORD-ALGORITHM SHA-256, MESSAGE-INTEGRITY-SHA256.
const RFC8489_B1 = hex(`
  00010090 2112a442 78ad3433 c6ad72c0 29da412e
  001e0020 4a3cf38f ef6992bd a952c678 0417da0f 24819415 569e60b2 05c46e41 407f1704
  00150029 6f624d61 744a6f73 32414141 43662f2f 3439396b 39353464 364f4c33 346f4c39 46535476 79363473 41000000
  0014000b 6578616d 706c652e 6f726700
  001d0004 00020000
  001c0020 b5c7bf00 5b6c52a2 1c51c5e8 92f81924 136296cb 927c4314 9309278c c6518e65`);
const B1_NONCE = 'obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA';

function expectStunError(fn: () => unknown, reason: StunErrorReason): StunError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StunError);
    expect(e).toBeInstanceOf(PosternError);
    expect((e as StunError).reason).toBe(reason);
    return e as StunError;
  }
  throw new Error(`expected StunError ${reason}, nothing was thrown`);
}

describe('message type (RFC 8489 §5, figure 3)', () => {
  it('encodes the well-known types', () => {
    expect(encodeMessageType(METHOD.BINDING, 'request')).toBe(0x0001);
    expect(encodeMessageType(METHOD.BINDING, 'success')).toBe(0x0101);
    expect(encodeMessageType(METHOD.BINDING, 'error')).toBe(0x0111);
    expect(encodeMessageType(METHOD.BINDING, 'indication')).toBe(0x0011);
    expect(encodeMessageType(METHOD.ALLOCATE, 'request')).toBe(0x0003);
    expect(encodeMessageType(METHOD.ALLOCATE, 'success')).toBe(0x0103);
    expect(encodeMessageType(METHOD.ALLOCATE, 'error')).toBe(0x0113);
    expect(encodeMessageType(METHOD.REFRESH, 'request')).toBe(0x0004);
    expect(encodeMessageType(METHOD.SEND, 'indication')).toBe(0x0016);
    expect(encodeMessageType(METHOD.DATA, 'indication')).toBe(0x0017);
    expect(encodeMessageType(METHOD.CREATE_PERMISSION, 'request')).toBe(0x0008);
    expect(encodeMessageType(METHOD.CHANNEL_BIND, 'request')).toBe(0x0009);
    expect(encodeMessageType(0xfff, 'error')).toBe(0x3fff);
    expect(encodeMessageType(0x080, 'request')).toBe(0x0200); // M7 sits above C1
  });

  it('round-trips every method and class, and decodes every 14-bit type', () => {
    for (let method = 0; method <= 0xfff; method++) {
      for (const cls of CLASSES) expect(decodeMessageType(encodeMessageType(method, cls))).toEqual({ method, messageClass: cls });
    }
    for (let type = 0; type < 0x4000; type++) {
      const { method, messageClass } = decodeMessageType(type);
      expect(encodeMessageType(method, messageClass)).toBe(type);
    }
  });

  it('refuses methods outside 12 bits and unknown classes', () => {
    expectStunError(() => encodeMessageType(0x1000, 'request'), 'invalid_argument');
    expectStunError(() => encodeMessageType(-1, 'request'), 'invalid_argument');
    expectStunError(() => encodeMessageType(1.5, 'request'), 'invalid_argument');
    expectStunError(() => encodeMessageType(1, 'response' as never), 'invalid_argument');
    expectStunError(() => encodeMessageType(1, 'toString' as never), 'invalid_argument');
  });
});

describe('RFC 5769 §2.1 sample request (short-term credentials)', () => {
  const msg = parseStunMessage(SAMPLE_REQUEST);

  it('parses every field', () => {
    expect(msg.method).toBe(METHOD.BINDING);
    expect(msg.messageClass).toBe('request');
    expect(toHex(msg.transactionId)).toBe('b7e7a701bc34d686fa87dfae');
    expect(msg.raw).toBe(SAMPLE_REQUEST);
    expect(msg.attributes.map((a) => [a.type, a.offset, a.value.length])).toEqual([
      [ATTR.SOFTWARE, 20, 16],
      [ATTR.PRIORITY, 40, 4],
      [ATTR.ICE_CONTROLLED, 48, 8],
      [ATTR.USERNAME, 60, 9],
      [ATTR.MESSAGE_INTEGRITY, 76, 20],
      [ATTR.FINGERPRINT, 100, 4],
    ]);
    expect(readAttribute(msg, codecs.software)).toBe('STUN test client');
    expect(toHex(getAttribute(msg, ATTR.PRIORITY)!.value)).toBe('6e0001ff');
    expect(toHex(getAttribute(msg, ATTR.ICE_CONTROLLED)!.value)).toBe('932ff9b151263b36');
    expect(readAttribute(msg, codecs.username)).toBe('evtj:h6vY');
  });

  it('verifies MESSAGE-INTEGRITY with the RFC password and FINGERPRINT', () => {
    expect(verifyMessageIntegrity(msg, utf8(RFC5769_SHORT_TERM_PASSWORD))).toBe(true);
    expect(verifyMessageIntegrity(msg, utf8('VOkJxbRl1RmTxUk/WvJxBT'))).toBe(false);
    expect(verifyFingerprint(msg)).toBe(true);
    expect(verifyMessageIntegritySha256(msg, utf8(RFC5769_SHORT_TERM_PASSWORD))).toBe(false); // absent
  });

  it('is rebuilt byte for byte (padding with spaces, as the RFC does)', () => {
    const rebuilt = buildStunMessage(
      {
        method: METHOD.BINDING,
        messageClass: 'request',
        transactionId: RFC5769_TID,
        attributes: [
          encodeAttribute(codecs.software, 'STUN test client'),
          { type: ATTR.PRIORITY, value: hex('6e0001ff') },
          { type: ATTR.ICE_CONTROLLED, value: hex('932ff9b151263b36') },
          encodeAttribute(codecs.username, 'evtj:h6vY'),
        ],
      },
      { integrityKey: utf8(RFC5769_SHORT_TERM_PASSWORD), fingerprint: true, paddingByte: 0x20 },
    );
    expect(toHex(rebuilt)).toBe(toHex(SAMPLE_REQUEST));
  });

  it('detects every single-bit change: FINGERPRINT covers all of it, MESSAGE-INTEGRITY all before it', () => {
    const key = utf8(RFC5769_SHORT_TERM_PASSWORD);
    const miEnd = 76 + 24;
    for (let bit = 0; bit < SAMPLE_REQUEST.length * 8; bit++) {
      const bytes = SAMPLE_REQUEST.slice();
      bytes[bit >> 3]! ^= 1 << (bit & 7);
      let parsed: ReturnType<typeof parseStunMessage>;
      try {
        parsed = parseStunMessage(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(StunError);
        continue;
      }
      expect(verifyFingerprint(parsed), `bit ${bit}`).toBe(false);
      if (bit >> 3 < miEnd) expect(verifyMessageIntegrity(parsed, key), `bit ${bit}`).toBe(false);
    }
  });
});

describe('RFC 5769 §2.2 sample IPv4 response', () => {
  const msg = parseStunMessage(SAMPLE_IPV4_RESPONSE);

  it('parses every field and verifies', () => {
    expect([msg.method, msg.messageClass]).toEqual([METHOD.BINDING, 'success']);
    expect(msg.transactionId).toEqual(RFC5769_TID);
    expect(msg.attributes.map((a) => a.type)).toEqual([ATTR.SOFTWARE, ATTR.XOR_MAPPED_ADDRESS, ATTR.MESSAGE_INTEGRITY, ATTR.FINGERPRINT]);
    expect(readAttribute(msg, codecs.software)).toBe('test vector');
    expect(readAttribute(msg, codecs.xorMappedAddress)).toEqual({ family: 'ipv4', address: '192.0.2.1', port: 32853 });
    expect(verifyMessageIntegrity(msg, utf8(RFC5769_SHORT_TERM_PASSWORD))).toBe(true);
    expect(verifyFingerprint(msg)).toBe(true);
  });

  it('is rebuilt byte for byte', () => {
    const rebuilt = buildStunMessage(
      {
        method: METHOD.BINDING,
        messageClass: 'success',
        transactionId: RFC5769_TID,
        attributes: [
          encodeAttribute(codecs.software, 'test vector'),
          encodeAttribute(codecs.xorMappedAddress, { address: '192.0.2.1', port: 32853 }, RFC5769_TID),
        ],
      },
      { integrityKey: utf8(RFC5769_SHORT_TERM_PASSWORD), fingerprint: true, paddingByte: 0x20 },
    );
    expect(toHex(rebuilt)).toBe(toHex(SAMPLE_IPV4_RESPONSE));
  });
});

describe('RFC 5769 §2.3 sample IPv6 response', () => {
  const msg = parseStunMessage(SAMPLE_IPV6_RESPONSE);

  it('parses every field and verifies', () => {
    expect([msg.method, msg.messageClass]).toEqual([METHOD.BINDING, 'success']);
    expect(readAttribute(msg, codecs.software)).toBe('test vector');
    expect(readAttribute(msg, codecs.xorMappedAddress)).toEqual({ family: 'ipv6', address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
    expect(verifyMessageIntegrity(msg, utf8(RFC5769_SHORT_TERM_PASSWORD))).toBe(true);
    expect(verifyFingerprint(msg)).toBe(true);
  });

  it('is rebuilt byte for byte', () => {
    const rebuilt = buildStunMessage(
      {
        method: METHOD.BINDING,
        messageClass: 'success',
        transactionId: RFC5769_TID,
        attributes: [
          encodeAttribute(codecs.software, 'test vector'),
          encodeAttribute(codecs.xorMappedAddress, { address: '2001:DB8:1234:5678:0011:2233:4455:6677', port: 32853 }, RFC5769_TID),
        ],
      },
      { integrityKey: utf8(RFC5769_SHORT_TERM_PASSWORD), fingerprint: true, paddingByte: 0x20 },
    );
    expect(toHex(rebuilt)).toBe(toHex(SAMPLE_IPV6_RESPONSE));
  });
});

describe('RFC 5769 §2.4 sample request with long-term authentication', () => {
  const msg = parseStunMessage(SAMPLE_LONG_TERM_REQUEST);
  const key = longTermKey(MATRIX_USER, MATRIX_REALM, MATRIX_PASSWORD);

  it('parses every field', () => {
    expect([msg.method, msg.messageClass]).toEqual([METHOD.BINDING, 'request']);
    expect(msg.transactionId).toEqual(LONG_TERM_TID);
    expect(msg.attributes.map((a) => a.type)).toEqual([ATTR.USERNAME, ATTR.NONCE, ATTR.REALM, ATTR.MESSAGE_INTEGRITY]);
    expect(readAttribute(msg, codecs.username)).toBe(MATRIX_USER);
    expect(readAttribute(msg, codecs.nonce)).toBe(MATRIX_NONCE);
    expect(readAttribute(msg, codecs.realm)).toBe(MATRIX_REALM);
  });

  it('verifies MESSAGE-INTEGRITY with MD5("マトリックス:example.org:TheMatrIX"); there is no FINGERPRINT', () => {
    expect(toHex(key)).toBe('e8ca7ad59d5eb0518e312911d2dab2a9');
    expect(verifyMessageIntegrity(msg, key)).toBe(true);
    expect(verifyMessageIntegrity(msg, longTermKey(MATRIX_USER, MATRIX_REALM, 'TheMatrix'))).toBe(false);
    expect(verifyFingerprint(msg)).toBe(false);
  });

  it('is rebuilt byte for byte', () => {
    const rebuilt = buildStunMessage(
      {
        method: METHOD.BINDING,
        messageClass: 'request',
        transactionId: LONG_TERM_TID,
        attributes: [encodeAttribute(codecs.username, MATRIX_USER), encodeAttribute(codecs.nonce, MATRIX_NONCE), encodeAttribute(codecs.realm, MATRIX_REALM)],
      },
      { integrityKey: key },
    );
    expect(toHex(rebuilt)).toBe(toHex(SAMPLE_LONG_TERM_REQUEST));
  });
});

describe('RFC 8489 Appendix B.1 (erratum 6268): USERHASH and MESSAGE-INTEGRITY-SHA256', () => {
  const msg = parseStunMessage(RFC8489_B1);
  const key = longTermKey(MATRIX_USER, MATRIX_REALM, MATRIX_PASSWORD, 'sha256');

  it('parses every field', () => {
    expect([msg.method, msg.messageClass]).toEqual([METHOD.BINDING, 'request']);
    expect(msg.attributes.map((a) => a.type)).toEqual([ATTR.USERHASH, ATTR.NONCE, ATTR.REALM, ATTR.PASSWORD_ALGORITHM, ATTR.MESSAGE_INTEGRITY_SHA256]);
    expect(readAttribute(msg, codecs.userhash)).toEqual(userHash(MATRIX_USER, MATRIX_REALM));
    expect(readAttribute(msg, codecs.nonce)).toBe(B1_NONCE);
    expect(readAttribute(msg, codecs.realm)).toBe(MATRIX_REALM);
    expect(readAttribute(msg, codecs.passwordAlgorithm)).toEqual({ algorithm: PASSWORD_ALGORITHM.SHA256, parameters: new Uint8Array(0) });
  });

  it('verifies MESSAGE-INTEGRITY-SHA256 with SHA-256("マトリックス:example.org:TheMatrIX")', () => {
    expect(verifyMessageIntegritySha256(msg, key)).toBe(true);
    expect(verifyMessageIntegritySha256(msg, longTermKey(MATRIX_USER, MATRIX_REALM, MATRIX_PASSWORD, 'md5'))).toBe(false);
    expect(verifyMessageIntegrity(msg, key)).toBe(false); // no MESSAGE-INTEGRITY
  });

  it('is rebuilt byte for byte', () => {
    const rebuilt = buildStunMessage(
      {
        method: METHOD.BINDING,
        messageClass: 'request',
        transactionId: LONG_TERM_TID,
        attributes: [
          encodeAttribute(codecs.userhash, userHash(MATRIX_USER, MATRIX_REALM)),
          encodeAttribute(codecs.nonce, B1_NONCE),
          encodeAttribute(codecs.realm, MATRIX_REALM),
          encodeAttribute(codecs.passwordAlgorithm, { algorithm: PASSWORD_ALGORITHM.SHA256, parameters: new Uint8Array(0) }),
        ],
      },
      { integritySha256Key: key },
    );
    expect(toHex(rebuilt)).toBe(toHex(RFC8489_B1));
  });
});

describe('building with integrity', () => {
  const tid = newTransactionId();
  const key = utf8('a key');

  it('writes MESSAGE-INTEGRITY, then MESSAGE-INTEGRITY-SHA256, then FINGERPRINT, and all verify', () => {
    const bytes = buildStunMessage(
      {
        method: METHOD.ALLOCATE,
        messageClass: 'request',
        transactionId: tid,
        attributes: [encodeAttribute(codecs.requestedTransport, 17), encodeAttribute(codecs.username, 'u')],
      },
      { integrityKey: key, integritySha256Key: key, fingerprint: true },
    );
    const msg = parseStunMessage(bytes);
    expect(msg.attributes.map((a) => a.type)).toEqual([
      ATTR.REQUESTED_TRANSPORT,
      ATTR.USERNAME,
      ATTR.MESSAGE_INTEGRITY,
      ATTR.MESSAGE_INTEGRITY_SHA256,
      ATTR.FINGERPRINT,
    ]);
    expect(verifyMessageIntegrity(msg, key)).toBe(true);
    expect(verifyMessageIntegritySha256(msg, key)).toBe(true);
    expect(verifyFingerprint(msg)).toBe(true);
    expect(verifyMessageIntegrity(msg, utf8('another key'))).toBe(false);
    expect(verifyMessageIntegritySha256(msg, utf8('another key'))).toBe(false);
  });

  it('truncates MESSAGE-INTEGRITY-SHA256 on request, and verifies the truncated form', () => {
    for (const length of [16, 20, 24, 28, 32]) {
      const msg = parseStunMessage(
        buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: tid }, { integritySha256Key: key, integritySha256Length: length }),
      );
      expect(getAttribute(msg, ATTR.MESSAGE_INTEGRITY_SHA256)!.value.length).toBe(length);
      expect(verifyMessageIntegritySha256(msg, key)).toBe(true);
    }
    for (const length of [0, 8, 12, 18, 36]) {
      expectStunError(
        () => buildStunMessage({ method: 1, messageClass: 'request', transactionId: tid }, { integritySha256Key: key, integritySha256Length: length }),
        'invalid_argument',
      );
    }
  });

  it('rejects integrity attributes of the wrong size', () => {
    const odd = parseStunMessage(
      buildStunMessage({ method: 1, messageClass: 'request', transactionId: tid, attributes: [{ type: ATTR.MESSAGE_INTEGRITY, value: new Uint8Array(16) }] }),
    );
    expect(verifyMessageIntegrity(odd, key)).toBe(false);
    const short = parseStunMessage(
      buildStunMessage({
        method: 1,
        messageClass: 'request',
        transactionId: tid,
        attributes: [{ type: ATTR.MESSAGE_INTEGRITY_SHA256, value: new Uint8Array(12) }],
      }),
    );
    expect(verifyMessageIntegritySha256(short, key)).toBe(false);
    const fp = parseStunMessage(
      buildStunMessage({ method: 1, messageClass: 'request', transactionId: tid, attributes: [{ type: ATTR.FINGERPRINT, value: new Uint8Array(8) }] }),
    );
    expect(verifyFingerprint(fp)).toBe(false);
  });

  it('builds an empty message and reproduces what it parsed', () => {
    const bytes = buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: tid });
    expect(bytes.length).toBe(20);
    expect(isStunMessage(bytes)).toBe(true);
    const msg = parseStunMessage(bytes);
    expect(msg.attributes).toEqual([]);
    expect(buildStunMessage(msg)).toEqual(bytes);
  });

  it('refuses what the parser would refuse', () => {
    const base = { method: METHOD.BINDING, messageClass: 'request' as const, transactionId: tid };
    expectStunError(() => buildStunMessage({ ...base, transactionId: new Uint8Array(11) }), 'invalid_argument');
    expectStunError(() => buildStunMessage({ ...base, attributes: [{ type: 0x10000, value: new Uint8Array(0) }] }), 'invalid_argument');
    expectStunError(() => buildStunMessage({ ...base, attributes: [{ type: 1, value: new Uint8Array(0x10000) }] }), 'invalid_argument');
    expectStunError(
      () =>
        buildStunMessage({
          ...base,
          attributes: [
            { type: ATTR.FINGERPRINT, value: new Uint8Array(4) },
            { type: 1, value: new Uint8Array(0) },
          ],
        }),
      'invalid_argument',
    );
    expectStunError(
      () => buildStunMessage({ ...base, attributes: [{ type: ATTR.FINGERPRINT, value: new Uint8Array(4) }] }, { integrityKey: utf8('k') }),
      'invalid_argument',
    );
    const many = Array.from({ length: MAX_ATTRIBUTES }, () => ({ type: ATTR.SOFTWARE, value: new Uint8Array(0) }));
    expect(() => buildStunMessage({ ...base, attributes: many })).not.toThrow();
    expectStunError(() => buildStunMessage({ ...base, attributes: many }, { fingerprint: true }), 'invalid_argument');
    const big = [{ type: ATTR.DATA, value: new Uint8Array(0xffff) }];
    const e = expectStunError(() => buildStunMessage({ ...base, attributes: big }), 'too_large');
    expect(e.code).toBe('payload_too_large');
    expectStunError(() => buildStunMessage(base, { paddingByte: 256 }), 'invalid_argument');
  });
});

describe('malformed messages', () => {
  const valid = SAMPLE_IPV4_RESPONSE;
  const withLength = (bytes: Uint8Array, length: number): Uint8Array => {
    const b = bytes.slice();
    b[2] = length >>> 8;
    b[3] = length & 0xff;
    return b;
  };

  it('names each fault', () => {
    expectStunError(() => parseStunMessage('not bytes' as never), 'not_bytes');
    expectStunError(() => parseStunMessage(new Uint8Array(0)), 'truncated');
    expectStunError(() => parseStunMessage(valid.subarray(0, 19)), 'truncated');
    expectStunError(() => parseStunMessage(valid.subarray(0, valid.length - 4)), 'truncated');
    expectStunError(() => parseStunMessage(Uint8Array.from([0x40, ...valid.subarray(1)])), 'not_stun');
    expectStunError(() => parseStunMessage(Uint8Array.from([0x80, ...valid.subarray(1)])), 'not_stun');
    const noCookie = valid.slice();
    noCookie[4] = 0;
    expectStunError(() => parseStunMessage(noCookie), 'bad_cookie');
    expectStunError(() => parseStunMessage(withLength(valid, 0x3d)), 'bad_length');
    expectStunError(() => parseStunMessage(Uint8Array.from([...valid, 0, 0, 0, 0])), 'trailing_bytes');
    expectStunError(() => parseStunMessage(withLength(valid, 0x38)), 'trailing_bytes');
    const tooLarge = expectStunError(() => parseStunMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1)), 'too_large');
    expect(tooLarge.code).toBe('payload_too_large');
  });

  it('rejects an attribute running past the end', () => {
    // SOFTWARE claims 0x0b bytes; make it claim 0x40.
    const b = valid.slice();
    b[22] = 0;
    b[23] = 0x40;
    const e = expectStunError(() => parseStunMessage(b), 'attribute_overrun');
    expect(e.message).toContain('SOFTWARE');
    // Padding counts: a 1-byte value needs its 3 bytes of padding inside the message too.
    const tail = buildStunMessage({ method: 1, messageClass: 'request', transactionId: RFC5769_TID, attributes: [{ type: 0x8001, value: new Uint8Array(1) }] });
    expect(tail.length).toBe(28);
    expect(parseStunMessage(tail).attributes[0]!.value.length).toBe(1);
    const unpadded = withLength(tail.subarray(0, 25), 5);
    expectStunError(() => parseStunMessage(unpadded), 'bad_length');
    const headerOnly = withLength(tail.subarray(0, 24), 4);
    expectStunError(() => parseStunMessage(headerOnly), 'attribute_overrun');
    headerOnly[23] = 0;
    expect(parseStunMessage(headerOnly).attributes[0]!.value.length).toBe(0);
  });

  it('caps the number of attributes', () => {
    const empty = (n: number) => Array.from({ length: n }, () => ({ type: ATTR.SOFTWARE, value: new Uint8Array(0) }));
    const ok = buildStunMessage({ method: 1, messageClass: 'request', transactionId: RFC5769_TID, attributes: empty(MAX_ATTRIBUTES) });
    expect(parseStunMessage(ok).attributes.length).toBe(MAX_ATTRIBUTES);
    const over = withLength(Uint8Array.from([...ok, 0x80, 0x22, 0, 0]), ok.length - 20 + 4);
    expectStunError(() => parseStunMessage(over), 'too_many_attributes');
  });

  it('requires FINGERPRINT to be last', () => {
    const after = withLength(Uint8Array.from([...SAMPLE_REQUEST, 0x80, 0x22, 0, 0]), SAMPLE_REQUEST.length - 20 + 4);
    const e = expectStunError(() => parseStunMessage(after), 'fingerprint_not_last');
    expect(e.message).toContain('SOFTWARE');
  });

  it('keeps the caller’s bytes instead of copying them', () => {
    const msg = parseStunMessage(SAMPLE_REQUEST);
    expect(msg.raw).toBe(SAMPLE_REQUEST);
    expect(msg.attributes[0]!.value.buffer).toBe(SAMPLE_REQUEST.buffer);
  });
});

describe('isStunMessage', () => {
  it('tells STUN from ChannelData and noise', () => {
    expect(isStunMessage(SAMPLE_REQUEST)).toBe(true);
    expect(isStunMessage(SAMPLE_REQUEST.subarray(0, 20))).toBe(true); // quick check only
    expect(isStunMessage(SAMPLE_REQUEST.subarray(0, 19))).toBe(false);
    expect(isStunMessage(hex('40000004 deadbeef 2112a442 00000000 00000000'))).toBe(false);
    expect(isStunMessage(hex('00010000 00000000 00000000 00000000 00000000'))).toBe(false);
    expect(isStunMessage('x' as never)).toBe(false);
  });
});

describe('attributes after MESSAGE-INTEGRITY (RFC 8489 §14.5)', () => {
  const key = utf8('k');
  const tid = RFC5769_TID;
  /** A signed request with an attribute appended after its MESSAGE-INTEGRITY, as someone on the path could. */
  function appendAfterIntegrity(signed: Uint8Array, type: number, value: Uint8Array): Uint8Array {
    const msg = parseStunMessage(signed);
    return buildStunMessage({
      method: msg.method,
      messageClass: msg.messageClass,
      transactionId: msg.transactionId,
      attributes: [...msg.attributes, { type, value }],
    });
  }

  it('ignores what follows, except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT', () => {
    const signed = buildStunMessage(
      { method: METHOD.REFRESH, messageClass: 'request', transactionId: tid, attributes: [encodeAttribute(codecs.lifetime, 600)] },
      { integrityKey: key },
    );
    const forged = parseStunMessage(appendAfterIntegrity(signed, ATTR.LIFETIME, hex('00000000')));
    expect(verifyMessageIntegrity(forged, key)).toBe(true); // still signed: the HMAC stops at MESSAGE-INTEGRITY
    expect(readAttribute(forged, codecs.lifetime)).toBe(600);
    expect(getAttributes(forged, ATTR.LIFETIME).length).toBe(1);
    expect(forged.attributes.length).toBe(3);
    expect(significantAttributes(forged).map((a) => a.type)).toEqual([ATTR.LIFETIME, ATTR.MESSAGE_INTEGRITY]);

    const both = parseStunMessage(
      buildStunMessage(
        { method: METHOD.REFRESH, messageClass: 'request', transactionId: tid, attributes: [encodeAttribute(codecs.lifetime, 600)] },
        { integrityKey: key, integritySha256Key: key, fingerprint: true },
      ),
    );
    expect(significantAttributes(both).map((a) => a.type)).toEqual([ATTR.LIFETIME, ATTR.MESSAGE_INTEGRITY, ATTR.MESSAGE_INTEGRITY_SHA256, ATTR.FINGERPRINT]);
  });

  it('after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT counts, so a later MESSAGE-INTEGRITY does not verify', () => {
    const signed = buildStunMessage({ method: METHOD.BINDING, messageClass: 'request', transactionId: tid }, { integritySha256Key: key });
    const withSha1 = parseStunMessage(appendAfterIntegrity(signed, ATTR.MESSAGE_INTEGRITY, new Uint8Array(20)));
    expect(significantAttributes(withSha1).map((a) => a.type)).toEqual([ATTR.MESSAGE_INTEGRITY_SHA256]);
    expect(verifyMessageIntegrity(withSha1, key)).toBe(false);
    expect(verifyMessageIntegritySha256(withSha1, key)).toBe(true);
  });

  it('lists unknown comprehension-required attributes once each, not optional or ignored ones', () => {
    const bytes = buildStunMessage({
      method: METHOD.BINDING,
      messageClass: 'request',
      transactionId: tid,
      attributes: [
        { type: 0x07ad, value: hex('01020304') },
        encodeAttribute(codecs.channelNumber, 0x4000),
        { type: 0x7fff, value: new Uint8Array(4) },
        { type: 0x07ad, value: new Uint8Array(0) },
        { type: 0x8000 + 0x7ad, value: new Uint8Array(4) },
      ],
    });
    const msg = parseStunMessage(bytes);
    expect(unknownComprehensionRequired(msg, UNDERSTOOD_ATTRIBUTES)).toEqual([0x07ad, 0x7fff]);
    const smuggled = parseStunMessage(
      appendAfterIntegrity(buildStunMessage({ method: 1, messageClass: 'request', transactionId: tid }, { integrityKey: key }), 0x0777, new Uint8Array(0)),
    );
    expect(unknownComprehensionRequired(smuggled, UNDERSTOOD_ATTRIBUTES)).toEqual([]);
    expect(unknownComprehensionRequired(parseStunMessage(SAMPLE_REQUEST), UNDERSTOOD_ATTRIBUTES)).toEqual([ATTR.PRIORITY]);
  });
});
