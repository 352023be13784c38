import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { cloudflareClientIp } from './conninfo.ts';

describe('cloudflareClientIp', () => {
  it('reads the client address from CF-Connecting-IP', async () => {
    const app = new Hono().get('/', (c) => c.text(cloudflareClientIp(c)));
    expect(await (await app.request('/', { headers: { 'cf-connecting-ip': '203.0.113.7' } })).text()).toBe('203.0.113.7');
    expect(await (await app.request('/')).text()).toBe('unknown');
  });
});
