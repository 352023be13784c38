import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/testing/prng.ts';
import { checkPeer, peerPolicy } from './peer-address.ts';

// The categories and prefix parsing themselves are tested in core/net/ip-address.test.ts.
describe('peer address policy', () => {
  it('lets public addresses through and says why it refuses the rest', () => {
    const policy = peerPolicy();
    for (const address of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '1.1.1.1', '2606:4700::1111', '64:ff9b::8.8.4.4', '2002:808:808::1']) {
      expect([address, checkPeer(address, policy)]).toEqual([address, { allowed: true, category: 'public' }]);
    }
    expect(checkPeer('169.254.169.254', policy)).toEqual({
      allowed: false,
      category: 'metadata',
      reason: 'the relay does not forward to metadata addresses (169.254.169.254) unless they are on its allow-list',
    });
  });

  // threat model (docs/threat-model.md): Relay user
  it('judges a 6to4 peer by the IPv4 address in bits 16–48', () => {
    const policy = peerPolicy();
    expect(checkPeer('2002:7f00:1::1', policy)).toMatchObject({ allowed: false, category: 'loopback' });
    expect(checkPeer('2002:a9fe:a9fe::', policy)).toMatchObject({ allowed: false, category: 'metadata' });
    expect(checkPeer('2002:c0a8:0101::1', policy)).toMatchObject({ allowed: false, category: 'private' });
    // An allow-list entry for a private IPv4 range does not open its 6to4 form (6to4 needs a public IPv4 address)...
    expect(checkPeer('2002:a14:506::1', peerPolicy(['10.20.0.0/16'])).allowed).toBe(false);
    // ...only an entry for the 6to4 range itself does.
    expect(checkPeer('2002:a14:506::1', peerPolicy(['2002:a14:506::/48'])).allowed).toBe(true);
  });

  // threat model (docs/threat-model.md): Relay user
  it('refuses IPv4-mapped and IPv4-compatible peers outright, public or allow-listed alike', () => {
    const policy = peerPolicy(['10.20.0.0/16', '127.0.0.1']);
    for (const address of ['::ffff:8.8.4.4', '::ffff:127.0.0.1', '::ffff:10.20.5.6', '::ffff:169.254.169.254']) {
      expect(checkPeer(address, policy)).toEqual({
        allowed: false,
        category: 'ipv4-mapped',
        reason: `the relay does not forward to ipv4-mapped IPv6 addresses (${address}); use the IPv4 address itself`,
      });
    }
    for (const address of ['::8.8.4.4', '::127.0.0.1', '::10.20.5.6'])
      expect(checkPeer(address, policy)).toMatchObject({ allowed: false, category: 'ipv4-compatible' });
  });

  it('an allow-list entry opens exactly its range', () => {
    const policy = peerPolicy(['10.20.0.0/16', '127.0.0.1']);
    expect(checkPeer('10.20.5.6', policy).allowed).toBe(true);
    expect(checkPeer('64:ff9b::10.20.5.6', policy).allowed).toBe(true);
    expect(checkPeer('10.21.0.1', policy).allowed).toBe(false);
    expect(checkPeer('127.0.0.1', policy).allowed).toBe(true);
    expect(checkPeer('127.0.0.2', policy).allowed).toBe(false);
    expect(checkPeer('::1', policy).allowed).toBe(false);
  });

  it('refuses malformed allow-list entries and addresses with a message', () => {
    expect(() => peerPolicy(['10.0.0.0/33'])).toThrow(/prefix length must be a whole number from 0 to 32/);
    expect(() => peerPolicy(['example.com/8'])).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => checkPeer('300.1.1.1', peerPolicy())).toThrow(/not an IPv4 or IPv6 address/);
  });

  it('matches allow-list boundaries bit-exactly (random private addresses against random /0–/32 allow-lists)', () => {
    const random = mulberry32(0xc1d7);
    const toInt = (x: number[]) => ((x[0]! << 24) | (x[1]! << 16) | (x[2]! << 8) | x[3]!) >>> 0;
    let inside = 0;
    for (let i = 0; i < 5_000; i++) {
      // Probes in 10.0.0.0/8 (private), so only the allow-list can let them through.
      const probe = [10, ...Array.from({ length: 3 }, () => Math.floor(random() * 256))];
      const prefix = Math.floor(random() * 33);
      const base =
        random() < 0.5 ? probe.map((byte, k) => (k < 2 ? byte : Math.floor(random() * 256))) : Array.from({ length: 4 }, () => Math.floor(random() * 256));
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const expected = (toInt(probe) & mask) === (toInt(base) & mask);
      if (expected) inside++;
      expect(checkPeer(probe.join('.'), peerPolicy([`${base.join('.')}/${prefix}`])).allowed).toBe(expected);
    }
    expect(inside).toBeGreaterThan(500);
    expect(inside).toBeLessThan(4_500);
  });
});
