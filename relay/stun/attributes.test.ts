import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../core/crypto/index.ts';
import { mulberry32 } from '../../core/testing/prng.ts';
import {
  canonicalIpAddress,
  codecs,
  encodeAttribute,
  formatIpAddress,
  parseIpAddress,
  readAttribute,
  readAttributes,
  UNDERSTOOD_ATTRIBUTES,
  type AttributeCodec,
} from './attributes.ts';
import { ADDRESS_FAMILY, ATTR, ERROR, ERROR_REASONS, METHOD, PASSWORD_ALGORITHM, TRANSPORT, attributeName, isComprehensionRequired } from './constants.ts';
import { buildStunMessage, parseStunMessage, StunError, type StunErrorReason } from './message.ts';
import { RFC5769_TID, hex } from './testing/stun-expectations.ts';

const TID = RFC5769_TID;

function expectStunError(fn: () => unknown, reason: StunErrorReason, mentions?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StunError);
    expect((e as StunError).reason).toBe(reason);
    if (mentions) expect((e as StunError).message).toContain(mentions);
    return;
  }
  throw new Error(`expected StunError ${reason}`);
}

/** encode then decode gives the value back (T & In: the decoded form must also be a valid input). */
function roundTrip<T, In>(codec: AttributeCodec<T, In>, value: T & In, tid: Uint8Array = TID): Uint8Array {
  const bytes = codec.encode(value, tid);
  expect(codec.decode(bytes, tid)).toEqual(value);
  return bytes;
}

describe('IP address text', () => {
  it('parses and formats IPv4', () => {
    expect(toHex(parseIpAddress('192.0.2.1'))).toBe('c0000201');
    expect(formatIpAddress(hex('c0000201'))).toBe('192.0.2.1');
    expect(canonicalIpAddress('0.0.0.0')).toBe('0.0.0.0');
    expect(canonicalIpAddress('255.255.255.255')).toBe('255.255.255.255');
  });

  it('formats IPv6 as RFC 5952 says', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: never "::" for one group
      ['2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: the first of equal runs
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // §5: IPv4-mapped keeps the dotted quad
      ['::ffff:c000:201', '::ffff:192.0.2.1'],
      ['::192.0.2.1', '::c000:201'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['fe80::0:0:1', 'fe80::1'],
    ];
    for (const [input, canonical] of cases) expect(canonicalIpAddress(input), input).toBe(canonical);
  });

  it('refuses anything that is not an address', () => {
    const bad = [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.1.1.1',
      '1.2.3.-4',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '0x1.2.3.4',
      '1e1.2.3.4',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      ':::',
      '1::2::3',
      ':1::2',
      '1::2:',
      'fe80::1%eth0',
      '12345::',
      '1:2:3:4:5:6:7::8',
      '::1.2.3.4.5',
      '1.2.3.4::',
      '::1.2.3',
      '::256.0.0.0',
      'g::1',
      '[::1]',
      'localhost',
      'x'.repeat(100),
    ];
    for (const text of bad) expectStunError(() => parseIpAddress(text), 'invalid_argument');
    expectStunError(() => parseIpAddress(7 as never), 'invalid_argument');
    expectStunError(() => formatIpAddress(new Uint8Array(5)), 'invalid_argument');
  });

  it('agrees with the WHATWG URL parser on random IPv6 addresses, and round-trips them', () => {
    const rnd = mulberry32(0x1b6);
    for (let n = 0; n < 5000; n++) {
      const bytes = new Uint8Array(16);
      // Mostly zeros, so that "::" placement is exercised.
      for (let i = 0; i < 16; i += 2) if (rnd() < 0.4) bytes[i + 1] = Math.floor(rnd() * 256) * (rnd() < 0.5 ? 1 : 0) || 1;
      if (rnd() < 0.05) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
      const text = formatIpAddress(bytes);
      expect(parseIpAddress(text)).toEqual(bytes);
      if (!text.startsWith('::ffff:') || text.split(':').length > 4) expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
    }
  });
});

describe('(XOR-)MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS', () => {
  it('encodes RFC 5769’s addresses as the RFC does', () => {
    expect(toHex(codecs.xorMappedAddress.encode({ address: '192.0.2.1', port: 32853 }, TID))).toBe('0001a147e112a643');
    expect(toHex(codecs.xorMappedAddress.encode({ address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, TID))).toBe(
      '0002a1470113a9faa5d3f179bc25f4b5bed2b9d9',
    );
    expect(toHex(codecs.mappedAddress.encode({ address: '192.0.2.1', port: 32853 }))).toBe('00018055c0000201');
  });

  it('round-trips both families through every address codec', () => {
    for (const codec of [codecs.mappedAddress, codecs.xorMappedAddress, codecs.xorPeerAddress, codecs.xorRelayedAddress]) {
      roundTrip(codec, { family: 'ipv4', address: '203.0.113.9', port: 0 });
      roundTrip(codec, { family: 'ipv4', address: '0.0.0.0', port: 65535 });
      roundTrip(codec, { family: 'ipv6', address: '2001:db8::1', port: 3478 });
      roundTrip(codec, { family: 'ipv6', address: '::ffff:198.51.100.7', port: 49152 });
    }
  });

  it('ignores the reserved first byte, as RFC 8489 §14.1 says', () => {
    expect(codecs.mappedAddress.decode(hex('ff018055c0000201'))).toEqual({ family: 'ipv4', address: '192.0.2.1', port: 32853 });
  });

  it('uses the transaction id for IPv6 only', () => {
    const other = hex('000000000000000000000000');
    expect(codecs.xorPeerAddress.encode({ address: '192.0.2.1', port: 1 }, TID)).toEqual(
      codecs.xorPeerAddress.encode({ address: '192.0.2.1', port: 1 }, other),
    );
    expect(codecs.xorPeerAddress.encode({ address: '2001:db8::1', port: 1 }, TID)).not.toEqual(
      codecs.xorPeerAddress.encode({ address: '2001:db8::1', port: 1 }, other),
    );
  });

  it('refuses malformed values and impossible inputs', () => {
    expectStunError(() => codecs.xorPeerAddress.decode(hex('0001a1'), TID), 'bad_attribute', 'XOR-PEER-ADDRESS');
    expectStunError(() => codecs.xorPeerAddress.decode(hex('0003a147e112a643'), TID), 'bad_attribute', 'family 3');
    expectStunError(() => codecs.xorPeerAddress.decode(hex('0001a147e112a64300'), TID), 'bad_attribute', 'must be 8 bytes');
    expectStunError(() => codecs.xorPeerAddress.decode(hex('0002a147e112a643'), TID), 'bad_attribute', 'must be 20 bytes');
    expectStunError(() => codecs.xorPeerAddress.decode(hex('0001a147e112a643')), 'invalid_argument', 'transaction id');
    expectStunError(() => codecs.xorPeerAddress.encode({ address: '192.0.2.1', port: 1 }, new Uint8Array(4)), 'invalid_argument');
    expectStunError(() => codecs.xorPeerAddress.encode({ address: '192.0.2.1', port: 65536 }, TID), 'invalid_argument', 'port');
    expectStunError(() => codecs.xorPeerAddress.encode({ address: '192.0.2.1', port: -1 }, TID), 'invalid_argument', 'port');
    expectStunError(() => codecs.xorPeerAddress.encode({ address: 'example.com', port: 1 }, TID), 'invalid_argument', 'example.com');
  });
});

describe('USERNAME, REALM, NONCE, SOFTWARE', () => {
  it('round-trips UTF-8 text', () => {
    expect(toHex(roundTrip(codecs.username, 'evtj:h6vY'))).toBe(toHex(utf8('evtj:h6vY')));
    roundTrip(codecs.username, '\u30de\u30c8\u30ea\u30c3\u30af\u30b9');
    roundTrip(codecs.realm, 'example.org');
    roundTrip(codecs.nonce, 'f//499k954d6OL34oL9FSTvy64sA');
    roundTrip(codecs.software, 'Postern relay');
    roundTrip(codecs.username, '');
  });

  it('sends USERNAME under 509 bytes and accepts up to 763 (RFC 8489 §14.3)', () => {
    roundTrip(codecs.username, 'u'.repeat(508));
    expectStunError(() => codecs.username.encode('u'.repeat(509)), 'invalid_argument', 'USERNAME');
    expect(codecs.username.decode(utf8('u'.repeat(763)))).toBe('u'.repeat(763));
    expectStunError(() => codecs.username.decode(utf8('u'.repeat(764))), 'bad_attribute', 'USERNAME');
  });

  it('holds REALM, NONCE and SOFTWARE under 128 characters, counting characters not bytes', () => {
    for (const codec of [codecs.realm, codecs.nonce, codecs.software]) {
      roundTrip(codec, 'r'.repeat(127));
      roundTrip(codec, '\u{1f512}'.repeat(127)); // 508 bytes
      expectStunError(() => codec.encode('r'.repeat(128)), 'invalid_argument', codec.name);
      expectStunError(() => codec.decode(utf8('r'.repeat(128))), 'bad_attribute', codec.name);
      expectStunError(() => codec.decode(utf8('\u{1f512}'.repeat(128))), 'bad_attribute', codec.name);
    }
  });

  it('refuses invalid UTF-8 and non-strings', () => {
    for (const bytes of [hex('ff'), hex('c0af'), hex('e382'), hex('eda080')]) expectStunError(() => codecs.username.decode(bytes), 'bad_attribute', 'UTF-8');
    expectStunError(() => codecs.realm.encode(42 as never), 'invalid_argument');
  });
});

describe('ERROR-CODE', () => {
  it('encodes class and number, with the reason phrase', () => {
    expect(toHex(codecs.errorCode.encode({ code: 401, reason: 'Unauthenticated' }))).toBe(`00000401${toHex(utf8('Unauthenticated'))}`);
    expect(toHex(codecs.errorCode.encode({ code: 438, reason: '' }))).toBe('00000426');
    roundTrip(codecs.errorCode, { code: ERROR.ALLOCATION_QUOTA_REACHED, reason: ERROR_REASONS[486]! });
    roundTrip(codecs.errorCode, { code: 699, reason: 'é' });
    roundTrip(codecs.errorCode, { code: 300, reason: ERROR_REASONS[300]! });
  });

  it('uses the RFC reason phrase when none is given', () => {
    expect(codecs.errorCode.decode(codecs.errorCode.encode({ code: ERROR.STALE_NONCE }))).toEqual({ code: 438, reason: 'Stale Nonce' });
    expect(codecs.errorCode.decode(codecs.errorCode.encode({ code: 599 }))).toEqual({ code: 599, reason: '' });
  });

  it('ignores the reserved bits and refuses impossible codes', () => {
    expect(codecs.errorCode.decode(hex('fffffc14'))).toEqual({ code: 420, reason: '' });
    expectStunError(() => codecs.errorCode.decode(hex('000002ff')), 'bad_attribute', 'class 2');
    expectStunError(() => codecs.errorCode.decode(hex('00000764')), 'bad_attribute', 'ERROR-CODE');
    expectStunError(() => codecs.errorCode.decode(hex('00000464')), 'bad_attribute', 'number 100');
    expectStunError(() => codecs.errorCode.decode(hex('000004')), 'bad_attribute', 'shorter than 4');
    expectStunError(() => codecs.errorCode.decode(hex('00000401ff')), 'bad_attribute', 'UTF-8');
    for (const code of [299, 700, 400.5, NaN]) expectStunError(() => codecs.errorCode.encode({ code, reason: '' }), 'invalid_argument');
  });

  it('has a reason phrase for every code it names', () => {
    for (const code of Object.values(ERROR)) expect(ERROR_REASONS[code]).toBeTruthy();
  });
});

describe('UNKNOWN-ATTRIBUTES', () => {
  it('is a list of 16-bit types', () => {
    expect(toHex(roundTrip(codecs.unknownAttributes, [0x07ad, 0x7fff]))).toBe('07ad7fff');
    roundTrip(codecs.unknownAttributes, []);
    roundTrip(codecs.unknownAttributes, [1, 2, 3]);
    expectStunError(() => codecs.unknownAttributes.decode(hex('07ad7f')), 'bad_attribute', 'odd');
    expectStunError(() => codecs.unknownAttributes.encode([0x10000]), 'invalid_argument');
  });
});

describe('TURN numbers and flags', () => {
  it('LIFETIME is 32 bits of seconds', () => {
    expect(toHex(roundTrip(codecs.lifetime, 600))).toBe('00000258');
    roundTrip(codecs.lifetime, 0xffffffff);
    expectStunError(() => codecs.lifetime.decode(hex('000258')), 'bad_attribute', 'LIFETIME');
    expectStunError(() => codecs.lifetime.encode(2 ** 32), 'invalid_argument');
  });

  it('REQUESTED-TRANSPORT carries a protocol number, RFFU ignored', () => {
    expect(toHex(roundTrip(codecs.requestedTransport, TRANSPORT.UDP))).toBe('11000000');
    expect(codecs.requestedTransport.decode(hex('06ffffff'))).toBe(TRANSPORT.TCP);
    expectStunError(() => codecs.requestedTransport.decode(hex('11')), 'bad_attribute', 'REQUESTED-TRANSPORT');
    expectStunError(() => codecs.requestedTransport.encode(256), 'invalid_argument');
  });

  it('REQUESTED-ADDRESS-FAMILY passes unknown families through for a 440', () => {
    expect(toHex(roundTrip(codecs.requestedAddressFamily, ADDRESS_FAMILY.IPV6))).toBe('02000000');
    expect(codecs.requestedAddressFamily.decode(hex('03000000'))).toBe(3);
    expectStunError(() => codecs.requestedAddressFamily.decode(hex('0200000000')), 'bad_attribute');
  });

  it('CHANNEL-NUMBER is 0x4000–0x4FFF', () => {
    expect(toHex(roundTrip(codecs.channelNumber, 0x4000))).toBe('40000000');
    roundTrip(codecs.channelNumber, 0x4fff);
    expect(codecs.channelNumber.decode(hex('4001ffff'))).toBe(0x4001);
    expectStunError(() => codecs.channelNumber.decode(hex('3fff0000')), 'bad_attribute', '0x3FFF');
    expectStunError(() => codecs.channelNumber.decode(hex('50000000')), 'bad_attribute', '0x5000');
    expectStunError(() => codecs.channelNumber.decode(hex('4000')), 'bad_attribute');
    expectStunError(() => codecs.channelNumber.encode(0x5000), 'invalid_argument');
  });

  it('DONT-FRAGMENT has no value', () => {
    expect(roundTrip(codecs.dontFragment, true).length).toBe(0);
    expectStunError(() => codecs.dontFragment.decode(hex('00')), 'bad_attribute', 'DONT-FRAGMENT');
  });

  it('EVEN-PORT is one byte whose top bit asks to reserve the next port', () => {
    expect(toHex(roundTrip(codecs.evenPort, { reserveNextPort: true }))).toBe('80');
    expect(toHex(roundTrip(codecs.evenPort, { reserveNextPort: false }))).toBe('00');
    expect(codecs.evenPort.decode(hex('7f'))).toEqual({ reserveNextPort: false });
    expectStunError(() => codecs.evenPort.decode(hex('80000000')), 'bad_attribute', 'EVEN-PORT');
    expectStunError(() => codecs.evenPort.encode({ reserveNextPort: 1 } as never), 'invalid_argument');
  });

  it('RESERVATION-TOKEN is 8 bytes, USERHASH 32, DATA anything', () => {
    roundTrip(codecs.reservationToken, hex('0102030405060708'));
    expectStunError(() => codecs.reservationToken.decode(hex('01020304050607')), 'bad_attribute', 'RESERVATION-TOKEN');
    expectStunError(() => codecs.reservationToken.encode(hex('01')), 'invalid_argument');
    roundTrip(codecs.userhash, new Uint8Array(32).fill(7));
    expectStunError(() => codecs.userhash.decode(new Uint8Array(31)), 'bad_attribute', 'USERHASH');
    roundTrip(codecs.data, new Uint8Array(0));
    roundTrip(codecs.data, hex('00ff00ff01'));
    expectStunError(() => codecs.data.encode('x' as never), 'invalid_argument');
  });
});

describe('PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM (RFC 8489 §14.11–§14.12)', () => {
  const md5 = { algorithm: PASSWORD_ALGORITHM.MD5, parameters: new Uint8Array(0) };
  const sha256 = { algorithm: PASSWORD_ALGORITHM.SHA256, parameters: new Uint8Array(0) };

  it('encodes a list of algorithms with their (padded) parameters', () => {
    expect(toHex(roundTrip(codecs.passwordAlgorithms, [md5, sha256]))).toBe('0001000000020000');
    expect(toHex(roundTrip(codecs.passwordAlgorithms, [{ algorithm: 9, parameters: hex('aabbcc') }, sha256]))).toBe('00090003aabbcc0000020000');
    roundTrip(codecs.passwordAlgorithms, []);
    expect(toHex(roundTrip(codecs.passwordAlgorithm, sha256))).toBe('00020000');
    expect(toHex(roundTrip(codecs.passwordAlgorithm, { algorithm: 9, parameters: hex('aa') }))).toBe('00090001aa000000');
  });

  it('refuses truncated and trailing bytes', () => {
    expectStunError(() => codecs.passwordAlgorithms.decode(hex('000100')), 'bad_attribute', 'stray');
    expectStunError(() => codecs.passwordAlgorithms.decode(hex('00090003aabbcc')), 'bad_attribute', 'past its end');
    expectStunError(() => codecs.passwordAlgorithm.decode(hex('0002000000020000')), 'bad_attribute', 'after its one algorithm');
    expectStunError(() => codecs.passwordAlgorithm.decode(hex('')), 'bad_attribute');
    expectStunError(() => codecs.passwordAlgorithms.encode([{ algorithm: -1, parameters: new Uint8Array(0) }]), 'invalid_argument');
  });
});

describe('reading attributes from a message', () => {
  it('decodes the first significant one, or all of them', () => {
    const msg = parseStunMessage(
      buildStunMessage({
        method: METHOD.CREATE_PERMISSION,
        messageClass: 'request',
        transactionId: TID,
        attributes: [
          encodeAttribute(codecs.xorPeerAddress, { address: '198.51.100.1', port: 0 }, TID),
          encodeAttribute(codecs.xorPeerAddress, { address: '2001:db8::7', port: 0 }, TID),
          encodeAttribute(codecs.username, 'alice'),
        ],
      }),
    );
    expect(readAttribute(msg, codecs.xorPeerAddress)?.address).toBe('198.51.100.1');
    expect(readAttributes(msg, codecs.xorPeerAddress).map((a) => a.address)).toEqual(['198.51.100.1', '2001:db8::7']);
    expect(readAttribute(msg, codecs.realm)).toBeUndefined();
    expect(readAttributes(msg, codecs.realm)).toEqual([]);
  });

  it('throws the decoder’s error for a malformed one', () => {
    const msg = parseStunMessage(
      buildStunMessage({ method: METHOD.ALLOCATE, messageClass: 'request', transactionId: TID, attributes: [{ type: ATTR.LIFETIME, value: hex('01') }] }),
    );
    expectStunError(() => readAttribute(msg, codecs.lifetime), 'bad_attribute', 'LIFETIME');
  });
});

describe('attribute types', () => {
  it('splits comprehension-required from optional at 0x8000', () => {
    expect(isComprehensionRequired(ATTR.USERNAME)).toBe(true);
    expect(isComprehensionRequired(0x7fff)).toBe(true);
    expect(isComprehensionRequired(ATTR.ADDITIONAL_ADDRESS_FAMILY)).toBe(false);
    expect(isComprehensionRequired(ATTR.FINGERPRINT)).toBe(false);
  });

  it('names attributes for messages', () => {
    expect(attributeName(ATTR.XOR_PEER_ADDRESS)).toBe('XOR-PEER-ADDRESS');
    expect(attributeName(ATTR.MESSAGE_INTEGRITY_SHA256)).toBe('MESSAGE-INTEGRITY-SHA256');
    expect(attributeName(0x7f01)).toBe('0x7F01');
  });

  it('understands every attribute it has a codec for, plus integrity and fingerprint, and nothing else', () => {
    expect(UNDERSTOOD_ATTRIBUTES.has(ATTR.MESSAGE_INTEGRITY)).toBe(true);
    expect(UNDERSTOOD_ATTRIBUTES.has(ATTR.FINGERPRINT)).toBe(true);
    expect(UNDERSTOOD_ATTRIBUTES.has(ATTR.XOR_RELAYED_ADDRESS)).toBe(true);
    expect(UNDERSTOOD_ATTRIBUTES.has(ATTR.PRIORITY)).toBe(false);
    expect(UNDERSTOOD_ATTRIBUTES.size).toBe(Object.keys(codecs).length + 3);
    for (const codec of Object.values(codecs)) expect(attributeName(codec.type)).toBe(codec.name);
  });
});
