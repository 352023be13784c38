import { concatBytes } from '../../core/crypto/index.ts';
import { PosternError } from '../../core/errors.ts';

/**
 * Reads a request body but stops at `limit` bytes, whatever Content-Length claims, so an
 * oversized or lying upload costs at most `limit` bytes of memory.
 */
export async function readBodyLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    throw new PosternError('payload_too_large', `The request body is ${declared} bytes; this endpoint accepts at most ${limit}.`, { limit });
  }
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
      throw new PosternError('payload_too_large', `The request body exceeds ${limit} bytes.`, { limit });
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
