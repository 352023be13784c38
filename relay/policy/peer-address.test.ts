import { describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { mulberry32 } from '../../core/testing/prng.ts';
import { categorise, checkPeer, parseCidr, peerPolicy } from './peer-address.ts';

describe('peer address policy', () => {
  it('knows the ranges a relay must not reach by default', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['::1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['fd12:3456::1', 'private'],
      ['169.254.10.1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['169.254.169.254', 'metadata'],
      ['::ffff:169.254.169.254', 'metadata'],
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
    ];
    for (const [address, category] of cases) expect([address, categorise(address)]).toEqual([address, category]);
  });

  it('lets public addresses through and says why it refuses the rest', () => {
    const policy = peerPolicy();
    for (const address of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.4.4']) {
      expect(checkPeer(address, policy)).toEqual({ allowed: true, category: 'public' });
    }
    expect(checkPeer('169.254.169.254', policy)).toEqual({
      allowed: false,
      category: 'metadata',
      reason: 'the relay does not forward to metadata addresses (169.254.169.254) unless they are on its allow-list',
    });
  });

  it('an allow-list entry opens exactly its range, also for the IPv4-mapped form', () => {
    const policy = peerPolicy(['10.20.0.0/16', '127.0.0.1']);
    expect(checkPeer('10.20.5.6', policy).allowed).toBe(true);
    expect(checkPeer('::ffff:10.20.5.6', policy).allowed).toBe(true);
    expect(checkPeer('10.21.0.1', policy).allowed).toBe(false);
    expect(checkPeer('127.0.0.1', policy).allowed).toBe(true);
    expect(checkPeer('127.0.0.2', policy).allowed).toBe(false);
    expect(checkPeer('::1', policy).allowed).toBe(false);
  });

  it('refuses malformed allow-list entries and addresses with a message', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(PosternError);
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix length must be a whole number from 0 to 32/);
    expect(() => parseCidr('10.0.0.0/8/8')).toThrow(/not an address or an address\/prefix/);
    expect(() => parseCidr('10.0.0.0/-1')).toThrow(/prefix length/);
    expect(() => parseCidr('example.com/8')).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => checkPeer('300.1.1.1', peerPolicy())).toThrow(/not an IPv4 or IPv6 address/);
  });

  it('matches prefix boundaries bit-exactly (random private addresses against random /0–/32 allow-lists)', () => {
    const random = mulberry32(0xc1d7);
    const toInt = (x: number[]) => ((x[0]! << 24) | (x[1]! << 16) | (x[2]! << 8) | x[3]!) >>> 0;
    let inside = 0;
    for (let i = 0; i < 20_000; i++) {
      // Probes in 10.0.0.0/8 (private), so only the allow-list can let them through.
      const probe = [10, ...Array.from({ length: 3 }, () => Math.floor(random() * 256))];
      const prefix = Math.floor(random() * 33);
      // Allow-list ranges near the probe half of the time, so both outcomes occur often.
      const base = random() < 0.5 ? probe.map((byte, k) => (k < 2 ? byte : Math.floor(random() * 256))) : Array.from({ length: 4 }, () => Math.floor(random() * 256));
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const expected = (toInt(probe) & mask) === (toInt(base) & mask);
      if (expected) inside++;
      expect(checkPeer(probe.join('.'), peerPolicy([`${base.join('.')}/${prefix}`])).allowed).toBe(expected);
    }
    expect(inside).toBeGreaterThan(2_000);
    expect(inside).toBeLessThan(18_000);
  });
});
