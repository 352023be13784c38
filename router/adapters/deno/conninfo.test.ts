import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../core/net/ip-address.ts';
import { denoClientIp } from './conninfo.ts';
import type { DenoServeHandlerInfo } from './deno-api.ts';

// Deno.serve hands the handler (request, info); the adapter passes info to Hono as `c.env`.
const info = (hostname: string): DenoServeHandlerInfo => ({ remoteAddr: { transport: 'tcp', hostname, port: 40000 } });

describe('denoClientIp', () => {
  it('reads the client address from ServeHandlerInfo, X-Forwarded-For only from a trusted proxy', async () => {
    const direct = new Hono().get('/', (c) => c.text(denoClientIp([])(c)));
    const proxied = new Hono().get('/', (c) => c.text(denoClientIp([parseCidr('10.0.0.0/8')])(c)));
    const xff = { headers: { 'x-forwarded-for': '203.0.113.66, 198.51.100.4' } };
    expect(await (await direct.fetch(new Request('http://h/', xff), info('::ffff:192.0.2.9'))).text()).toBe('192.0.2.9');
    expect(await (await proxied.fetch(new Request('http://h/', xff), info('10.0.0.1'))).text()).toBe('198.51.100.4');
    expect(await (await proxied.fetch(new Request('http://h/', xff), info('192.0.2.9'))).text()).toBe('192.0.2.9');
    expect(await (await direct.request('/')).text()).toBe('unknown');
  });
});
