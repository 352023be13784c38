/**
 * The Node body reader over real HTTP: what it reads, where it stops, and that a refused or
 * abandoned upload leaves the server serving.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PosternError } from '../../../core/errors.ts';
import { readNodeBody } from './body.ts';

const LIMIT = 64 * 1024;

describe('readNodeBody', () => {
  let server: ServerType;
  let url: string;
  const outcomes: string[] = [];

  beforeAll(async () => {
    const app = new Hono();
    app.post('/echo', async (c) => {
      try {
        const body = await readNodeBody(c, LIMIT);
        outcomes.push(`read ${body.length}`);
        expect(Object.getPrototypeOf(body)).toBe(Uint8Array.prototype);
        return c.json({ length: body.length, sum: body.reduce((a, b) => (a + b) % 65_521, 0) });
      } catch (err) {
        const error = err as PosternError;
        outcomes.push(`refused ${error.code}`);
        return c.json({ code: error.code }, error.httpStatus as 413, { connection: 'close' });
      }
    });
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sum = (bytes: Uint8Array) => bytes.reduce((a, b) => (a + b) % 65_521, 0);

  it('reads a body whole, in one chunk or streamed in many, up to exactly the limit', async () => {
    for (const size of [0, 1, 1000, LIMIT]) {
      const body = crypto.getRandomValues(new Uint8Array(size));
      const response = await fetch(`${url}/echo`, { method: 'POST', body });
      expect(await response.json()).toEqual({ length: size, sum: sum(body) });
    }
    const parts = Array.from({ length: 16 }, () => crypto.getRandomValues(new Uint8Array(4096)));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const response = await fetch(`${url}/echo`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(((await response.json()) as { length: number }).length).toBe(LIMIT);
  });

  it('refuses a declared length over the limit before reading, and a chunked body at the first byte over it', async () => {
    const declared = await rawPost(url, { 'content-length': String(LIMIT + 1) }, Buffer.alloc(0), false);
    expect(declared.status).toBe(413);
    expect(declared.body).toContain('payload_too_large');

    const chunked = await rawPost(url, { 'transfer-encoding': 'chunked' }, Buffer.alloc(LIMIT + 1, 7), true);
    expect(chunked.status).toBe(413);
    expect(chunked.headers['connection']).toBe('close');

    // and the server goes on serving
    const after = await fetch(`${url}/echo`, { method: 'POST', body: 'ok' });
    expect(((await after.json()) as { length: number }).length).toBe(2);
  });

  it('rejects with bad_request when the client goes away mid-body, and keeps serving', async () => {
    outcomes.length = 0;
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${url}/echo`, { method: 'POST', headers: { 'content-length': '10000' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(100));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    await expect.poll(() => outcomes).toEqual(['refused bad_request']);
    const after = await fetch(`${url}/echo`, { method: 'POST', body: 'still here' });
    expect(((await after.json()) as { length: number }).length).toBe(10);
  });
});

/** A POST written by hand, so that the declared length and the body sent can disagree. */
function rawPost(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  send: boolean,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/echo`, { method: 'POST', headers });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (send) req.end(body);
    else req.flushHeaders();
  });
}
