import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { mulberry32 } from '../testing/prng.ts';
import {
  canonicalIpAddress,
  categorise,
  embeddedIpv4,
  formatIpAddress,
  inCidr,
  isMetadataAddress,
  parseCidr,
  parseIpAddress,
  tryParseIpAddress,
} from './ip-address.ts';

describe('IP address text', () => {
  it('parses any spelling and formats the canonical one', () => {
    expect([...parseIpAddress('192.0.2.1')]).toEqual([192, 0, 2, 1]);
    expect(canonicalIpAddress('2001:0DB8:0:0::1')).toBe('2001:db8::1');
    expect(canonicalIpAddress('::ffff:c000:201')).toBe('::ffff:192.0.2.1');
    expect(formatIpAddress(parseIpAddress('fe80::0:0:1'))).toBe('fe80::1');
  });

  it('refuses text that is no address, with a PosternError naming it', () => {
    for (const text of ['', 'localhost', '01.1.1.1', '2852039166', '0xa9fea9fe', 'fe80::1%eth0', '[::1]']) {
      expect(tryParseIpAddress(text)).toBeUndefined();
      expect(() => parseIpAddress(text)).toThrow(PosternError);
    }
    expect(() => parseIpAddress('localhost')).toThrow('not an IPv4 or IPv6 address: "localhost"');
    expect(() => formatIpAddress(new Uint8Array(5))).toThrow(/4 or 16 bytes/);
  });
});

describe('address categories', () => {
  it('knows the ranges a relay or gateway must not reach by default', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['::1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['fd12:3456::1', 'private'],
      ['169.254.10.1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['169.254.169.254', 'metadata'],
      ['64:ff9b::a9fe:a9fe', 'metadata'],
      ['fd00:ec2::254', 'metadata'],
      ['100.100.100.200', 'metadata'],
      ['100.64.0.1', 'carrier-grade-nat'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['192.0.2.10', 'documentation'],
      ['2001:db8::1', 'documentation'],
      ['240.0.0.1', 'reserved'],
      ['8.8.8.8', 'public'],
      ['2606:4700::1111', 'public'],
    ];
    for (const [address, category] of cases) expect([address, categorise(address)]).toEqual([address, category]);
  });

  it('judges 6to4 (2002::/16) by the IPv4 address in bits 16–48', () => {
    expect(categorise('2002:7f00:1::')).toBe('loopback');
    expect(categorise('2002:7f00:1:ffff::1')).toBe('loopback');
    expect(categorise('2002:a9fe:a9fe::')).toBe('metadata');
    expect(categorise('2002:0a00:0001:1::5')).toBe('private');
    expect(categorise('2002:c0a8:101::1')).toBe('private');
    expect(categorise('2002:808:808::1')).toBe('public');
  });

  it('puts IPv4-mapped and IPv4-compatible addresses in their own categories, whatever IPv4 they carry', () => {
    for (const address of ['::ffff:127.0.0.1', '::ffff:169.254.169.254', '::ffff:8.8.4.4', '::ffff:0.0.0.0']) expect(categorise(address)).toBe('ipv4-mapped');
    for (const address of ['::127.0.0.1', '::8.8.8.8', '::0.1.0.0', '::169.254.169.254']) expect(categorise(address)).toBe('ipv4-compatible');
    // ...but "::" and "::1" keep their own meaning.
    expect(categorise('::')).toBe('unspecified');
    expect(categorise('::1')).toBe('loopback');
  });

  it('finds the IPv4 address inside every embedding form', () => {
    const inner = (text: string) => {
      const bytes = embeddedIpv4(parseIpAddress(text));
      return bytes && formatIpAddress(bytes);
    };
    expect(inner('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(inner('::10.1.2.3')).toBe('10.1.2.3');
    expect(inner('64:ff9b::10.1.2.3')).toBe('10.1.2.3');
    expect(inner('2002:a01:203::1')).toBe('10.1.2.3');
    expect(inner('2606:4700::1111')).toBeNull();
    expect(inner('::1')).toBeNull();
    expect(inner('10.1.2.3')).toBeNull();
  });

  it('recognises a metadata address in any spelling a socket acts on', () => {
    for (const address of [
      '169.254.169.254',
      'fd00:ec2::254',
      '100.100.100.200',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '::169.254.169.254',
      '64:ff9b::169.254.169.254',
      '2002:a9fe:a9fe::1',
      'FD00:EC2:0::254',
    ]) {
      expect([address, isMetadataAddress(address)]).toEqual([address, true]);
    }
    for (const address of ['169.254.169.253', '127.0.0.1', '8.8.8.8', 'metadata.google.internal', '', '::ffff:127.0.0.1']) {
      expect([address, isMetadataAddress(address)]).toEqual([address, false]);
    }
  });
});

describe('prefixes', () => {
  it('refuses malformed prefixes with a message', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(PosternError);
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix length must be a whole number from 0 to 32/);
    expect(() => parseCidr('10.0.0.0/8/8')).toThrow(/not an address or an address\/prefix/);
    expect(() => parseCidr('10.0.0.0/-1')).toThrow(/prefix length/);
    expect(() => parseCidr('example.com/8')).toThrow(/not an IPv4 or IPv6 address/);
    expect(parseCidr('fd00::/8').prefix).toBe(8);
    expect(parseCidr('10.1.2.3').prefix).toBe(32);
  });

  it('never matches across families', () => {
    expect(inCidr(parseIpAddress('::ffff:10.0.0.1'), parseCidr('10.0.0.0/8'))).toBe(false);
    expect(inCidr(parseIpAddress('10.0.0.1'), parseCidr('::/0'))).toBe(false);
    expect(inCidr(parseIpAddress('10.0.0.1'), parseCidr('0.0.0.0/0'))).toBe(true);
  });

  it('matches prefix boundaries bit-exactly (random addresses against random /0–/32 prefixes)', () => {
    const random = mulberry32(0xc1d8);
    const toInt = (x: number[]) => ((x[0]! << 24) | (x[1]! << 16) | (x[2]! << 8) | x[3]!) >>> 0;
    let inside = 0;
    for (let i = 0; i < 20_000; i++) {
      const probe = Array.from({ length: 4 }, () => Math.floor(random() * 256));
      const prefix = Math.floor(random() * 33);
      // Prefixes near the probe half of the time, so both outcomes occur often.
      const base =
        random() < 0.5 ? probe.map((byte, k) => (k < 2 ? byte : Math.floor(random() * 256))) : Array.from({ length: 4 }, () => Math.floor(random() * 256));
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const expected = (toInt(probe) & mask) === (toInt(base) & mask);
      if (expected) inside++;
      expect(inCidr(new Uint8Array(probe), parseCidr(`${base.join('.')}/${prefix}`))).toBe(expected);
    }
    expect(inside).toBeGreaterThan(2_000);
    expect(inside).toBeLessThan(18_000);
  });
});
