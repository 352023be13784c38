import type { Context } from 'hono';
import { concatBytes } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';

/**
 * How a runtime reads a request body, at most `limit` bytes. The portable one reads the web
 * Request's stream; a runtime adapter may bring a cheaper one (the Node adapter reads Node's own
 * request stream: adapters/node/body.ts says why).
 */
export type BodyReader = (c: Context, limit: number) => Promise<Uint8Array>;

/** Requests whose body a reader has started on (see bodyLeftUnread in errors.ts). */
const started = new WeakSet<Request>();

/** Called by a reader before it reads: the body is being consumed, whatever the Request says. */
export function markBodyRead(request: Request): void {
  started.add(request);
}

export function bodyReadStarted(request: Request): boolean {
  return started.has(request);
}

export function refuseDeclaredLength(declared: string | null | undefined, limit: number): void {
  if (declared !== null && declared !== undefined && Number(declared) > limit) {
    throw new PosternError('payload_too_large', `The request body is ${declared} bytes; this endpoint accepts at most ${limit}.`, { limit });
  }
}

export function bodyTooLarge(limit: number): PosternError {
  return new PosternError('payload_too_large', `The request body exceeds ${limit} bytes.`, { limit });
}

/** The portable reader: the web Request's stream. */
export const readWebBody: BodyReader = (c, limit) => readBodyLimited(c.req.raw, limit);

/**
 * Reads a request body but stops at `limit` bytes, whatever Content-Length claims, so an
 * oversized or lying upload costs at most `limit` bytes of memory.
 */
export async function readBodyLimited(request: Request, limit: number): Promise<Uint8Array> {
  refuseDeclaredLength(request.headers.get('content-length'), limit);
  markBodyRead(request);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  return concatBytes(...chunks);
}

export function parseJsonBody(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new PosternError('bad_request', 'The request body is not valid JSON.');
  }
}
