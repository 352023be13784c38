import { describe, expect, it } from 'vitest';
import { clientAddress, parseTrustedProxies } from './client-address.ts';

// threat model (docs/threat-model.md): anonymous (a client that writes its own X-Forwarded-For)
describe('clientAddress', () => {
  const proxies = parseTrustedProxies(['10.0.0.0/8', 'fd00::/8', '192.0.2.1']);

  it('ignores X-Forwarded-For without trusted proxies, or from a peer that is not one', () => {
    expect(clientAddress('198.51.100.4', '203.0.113.9', [])).toBe('198.51.100.4');
    expect(clientAddress('198.51.100.4', '203.0.113.9', proxies)).toBe('198.51.100.4');
  });

  it('takes the right-most hop that is not a trusted proxy, whatever the client wrote to its left', () => {
    expect(clientAddress('10.0.0.1', '1.1.1.1, 203.0.113.9', proxies)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '10.0.0.5, 203.0.113.9, 10.0.0.7, 192.0.2.1', proxies)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', ['1.1.1.1', '203.0.113.9'], proxies)).toBe('203.0.113.9');
    // Every hop trusted: the request began inside; the farthest hop is the client.
    expect(clientAddress('10.0.0.1', '10.1.1.1, 10.0.0.7', proxies)).toBe('10.1.1.1');
  });

  it('handles IPv6 and IPv4-mapped addresses, with brackets and ports as proxies write them', () => {
    expect(clientAddress('::ffff:10.0.0.1', '2001:db8::7', proxies)).toBe('2001:db8::7');
    expect(clientAddress('fd00::1', '[2001:DB8::7]:4711', proxies)).toBe('2001:db8::7');
    expect(clientAddress('10.0.0.1', '203.0.113.9:5555', proxies)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.1', '::ffff:203.0.113.9', proxies)).toBe('203.0.113.9');
    expect(clientAddress('::ffff:198.51.100.4', undefined, proxies)).toBe('198.51.100.4');
    // A mapped spelling of a trusted proxy is that proxy.
    expect(clientAddress('10.0.0.1', '203.0.113.9, ::ffff:10.0.0.3', proxies)).toBe('203.0.113.9');
  });

  it('stops at garbage: the proxy that appended after it is the address', () => {
    expect(clientAddress('10.0.0.1', 'evil, 10.0.0.3', proxies)).toBe('10.0.0.3');
    expect(clientAddress('10.0.0.1', '203.0.113.9, <script>', proxies)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.1', '', proxies)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.1', 'unknown, , 203.0.113.9', proxies)).toBe('203.0.113.9');
    expect(clientAddress(undefined, '203.0.113.9', proxies)).toBe('unknown');
  });

  it('refuses a --trusted-proxy that is no address or range', () => {
    expect(() => parseTrustedProxies(['10.0.0.0/33'])).toThrowError(expect.objectContaining({ code: 'bad_request' }));
    expect(() => parseTrustedProxies(['proxy.internal'])).toThrowError(expect.objectContaining({ code: 'bad_request' }));
  });
});
