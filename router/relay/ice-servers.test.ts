import { describe, expect, it } from 'vitest';
import { turnRestPassword } from '../../core/crypto/index.ts';
import { iceServersFor } from './ice-servers.ts';

describe('iceServersFor', () => {
  const relay = { urls: ['turn:relay.example:3478?transport=udp'], secret: 'a shared secret of enough bytes' };

  it('issues REST-style credentials per call, bound to the caller and expiring', () => {
    const now = 1_800_000_000_000;
    const a = iceServersFor(relay, 'USER', now);
    const b = iceServersFor(relay, 'USER', now);
    expect(a.iceServers).toHaveLength(1);
    const [server] = a.iceServers;
    expect(server!.urls).toEqual(relay.urls);
    expect(server!.username).toMatch(/^1800003600:USER\.[A-Za-z0-9_-]{8}$/);
    expect(server!.credential).toBe(turnRestPassword(relay.secret, server!.username));
    expect(a.expiresAt).toBe(1_800_003_600_000);
    expect(b.iceServers[0]!.username).not.toBe(server!.username);
  });

  it('keeps the principal before the first "." so that fresh credentials share one Relay quota', () => {
    const principal = (username: string) => username.split(':')[1]!.split('.')[0];
    const now = 1_800_000_000_000;
    expect(principal(iceServersFor(relay, 'USER', now).iceServers[0]!.username!)).toBe('USER');
    expect(() => iceServersFor(relay, 'USER.forged', now)).toThrow(/must not contain "\."/);
  });

  it('gives nothing when no Relay is configured', () => {
    expect(iceServersFor(undefined, 'USER', Date.now())).toEqual({ iceServers: [], expiresAt: null });
    expect(iceServersFor({ urls: [], secret: relay.secret }, 'USER', Date.now())).toEqual({ iceServers: [], expiresAt: null });
  });
});
