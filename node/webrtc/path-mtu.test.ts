import { describe, expect, it } from 'vitest';
import { DEFAULT_SCTP_PACKET, linkMtuTo, MAX_SCTP_PACKET, nodeHostNetwork, sctpPacketCeiling, type HostNetwork, type InterfaceAddress } from './path-mtu.ts';

/** A host with lo (65536), eth0 (1500) on 10.1.0.0/16 and fd00:1::/64, and jumbo0 (9000) on 192.168.50.0/24. */
function fakeHost(mtus: Record<string, number | undefined> = { lo: 65536, eth0: 1500, jumbo0: 9000 }): HostNetwork {
  const v4 = (address: string, cidr: string, internal = false): InterfaceAddress => ({ address, family: 'IPv4', internal, cidr });
  const v6 = (address: string, cidr: string, internal = false): InterfaceAddress => ({ address, family: 'IPv6', internal, cidr });
  const ifaces: Record<string, InterfaceAddress[]> = {
    lo: [v4('127.0.0.1', '127.0.0.1/8', true), v6('::1', '::1/128', true)],
    eth0: [v4('10.1.2.3', '10.1.2.3/16'), v6('fd00:1::3', 'fd00:1::3/64')],
    jumbo0: [v4('192.168.50.7', '192.168.50.7/24')],
  };
  const toBig = (a: string) => {
    if (a.includes(':')) {
      const [head, tail] = a.split('::');
      const h = head ? head.split(':') : [];
      const t = tail ? tail.split(':') : [];
      const parts = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
      return { bits: 128, v: parts.reduce((acc, p) => (acc << 16n) | BigInt(parseInt(p || '0', 16)), 0n) };
    }
    return { bits: 32, v: a.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n) };
  };
  return {
    interfaces: () => ifaces,
    mtu: (name) => mtus[name],
    inSubnet(address, cidr) {
      const [base, prefix] = cidr.split('/');
      const a = toBig(address);
      const b = toBig(base!);
      if (a.bits !== b.bits) return false;
      const shift = BigInt(a.bits - Number(prefix));
      return a.v >> shift === b.v >> shift;
    },
  };
}

describe('linkMtuTo', () => {
  const host = fakeHost();
  it('sends loopback and this host’s own addresses over lo', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '10.1.2.3', 'fd00:1::3', '192.168.50.7']) expect(linkMtuTo(a, host), a).toBe(65536);
  });
  it('finds the directly attached network that holds the address', () => {
    expect(linkMtuTo('10.1.200.9', host)).toBe(1500);
    expect(linkMtuTo('fd00:1::99', host)).toBe(1500);
    expect(linkMtuTo('192.168.50.20', host)).toBe(9000);
  });
  it('knows nothing of an address behind a router, or of a host name', () => {
    expect(linkMtuTo('203.0.113.5', host)).toBeUndefined();
    expect(linkMtuTo('2001:db8::1', host)).toBeUndefined();
    expect(linkMtuTo('relay.example.com', host)).toBeUndefined();
    expect(linkMtuTo('', host)).toBeUndefined();
  });
});

describe('sctpPacketCeiling', () => {
  const host = fakeHost();
  it('allows one DTLS record (16 KiB) on the loopback link, direct and through a relay on this host', () => {
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1' }, host)).toBe(MAX_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '10.1.2.3', turnServer: '127.0.0.1' }, host)).toBe(MAX_SCTP_PACKET);
  });
  it('fits a 1500-byte Ethernet link: IP, UDP, DTLS (and TURN) headers taken off, a multiple of 4', () => {
    expect(sctpPacketCeiling({ remoteAddress: '10.1.9.9' }, host)).toBe(1432); // 1500 − 20 − 8 − 37 = 1435
    expect(sctpPacketCeiling({ remoteAddress: 'fd00:1::9' }, host)).toBe(1412); // 1500 − 40 − 8 − 37 = 1415
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1', turnServer: '10.1.9.9' }, host)).toBe(1380); // − 52 for TURN
  });
  it('takes the smallest link over every hop', () => {
    expect(sctpPacketCeiling({ remoteAddress: '192.168.50.20', turnServer: '10.1.9.9' }, host)).toBe(1380);
    expect(sctpPacketCeiling({ remoteAddress: '192.168.50.20' }, host)).toBe(8932); // 9000 − 65 = 8935, rounded down to a multiple of 4
  });
  it('stays at the default for any hop it cannot see (the Internet, a TURN server by name, no MTU, no host info)', () => {
    expect(sctpPacketCeiling({ remoteAddress: '203.0.113.5' }, host)).toBe(DEFAULT_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1', turnServer: 'turn.example.com' }, host)).toBe(DEFAULT_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '10.1.9.9' }, fakeHost({ lo: 65536 }))).toBe(DEFAULT_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1' }, undefined)).toBe(DEFAULT_SCTP_PACKET);
  });
  it('lets POSTERN_WEBRTC_MAX_PACKET decide, clamped to what a DTLS record and werift allow; junk is ignored', () => {
    expect(sctpPacketCeiling({ remoteAddress: '203.0.113.5' }, host, '8000')).toBe(8000);
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1' }, host, '1400')).toBe(1400);
    expect(sctpPacketCeiling({ remoteAddress: '203.0.113.5' }, host, '99999')).toBe(MAX_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '203.0.113.5' }, host, '100')).toBe(DEFAULT_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1' }, host, 'lots')).toBe(MAX_SCTP_PACKET);
    expect(sctpPacketCeiling({ remoteAddress: '127.0.0.1' }, host, '')).toBe(MAX_SCTP_PACKET);
  });
});

describe('nodeHostNetwork (this machine)', () => {
  it('reads the loopback MTU and answers subnet questions', () => {
    const host = nodeHostNetwork();
    expect(host).toBeDefined();
    const lo = linkMtuTo('127.0.0.1', host!);
    if (process.platform === 'linux') expect(lo).toBeGreaterThanOrEqual(1280);
    expect(host!.inSubnet('10.1.2.3', '10.1.0.0/16')).toBe(true);
    expect(host!.inSubnet('10.2.2.3', '10.1.0.0/16')).toBe(false);
    expect(host!.inSubnet('fd00:1::5', 'fd00:1::/64')).toBe(true);
    expect(host!.inSubnet('not an address', '10.1.0.0/16')).toBe(false);
    expect(host!.mtu('../../etc/passwd')).toBeUndefined();
  });
});
