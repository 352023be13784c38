/**
 * Request bodies on Node, read from Node's own request stream (`IncomingMessage`, which
 * @hono/node-server hands every handler as `c.env.incoming`).
 *
 * Why not the web Request: @hono/node-server builds Hono's Request lazily, and the first touch
 * of its body makes a full undici Request around a web ReadableStream converted from the Node
 * stream. For a vault request of a kilobyte that machinery cost about 8 % of the Router's CPU
 * per request (test/bench/vault-api, --cpu-profile); reading the same chunks from the Node
 * stream costs next to nothing. Same rules as the portable reader (router/http/body.ts): a
 * declared length over the limit is refused before a byte is read, and reading stops at the
 * limit whatever the declaration said.
 */
import type { IncomingMessage } from 'node:http';
import { PosternError } from '../../../core/errors.ts';
import { bodyTooLarge, markBodyRead, readWebBody, refuseDeclaredLength, type BodyReader } from '../../http/body.ts';

export const readNodeBody: BodyReader = (c, limit) => {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || typeof incoming.on !== 'function') return readWebBody(c, limit);
  refuseDeclaredLength(incoming.headers['content-length'], limit);
  markBodyRead(c.req.raw);
  return readIncoming(incoming, limit);
};

function readIncoming(incoming: IncomingMessage, limit: number): Promise<Uint8Array> {
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        // Stop reading; the error answer closes the connection (errors.ts), so the rest of the
        // upload is never buffered.
        cleanup();
        incoming.pause();
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const body = new Uint8Array(total); // a plain array of its own, not a pooled Buffer
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.length;
      }
      resolve(body);
    };
    // An error on the request stream is the client's connection failing (Node says "aborted",
    // ECONNRESET): the same answer as a close before the end.
    const onGone = () => {
      cleanup();
      reject(new PosternError('bad_request', 'The client closed the connection before the request body was complete.'));
    };
    const onError = onGone;
    const onClose = onGone;
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}
