import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from '../../../core/logger.ts';

/**
 * Structured logs to `<data>/logs/router.log` (and stdout when asked); `base` names the process in
 * a cluster.
 *
 * The file is opened here, synchronously and 0600, so it exists once the Router is up; lines are
 * written asynchronously: a write in flight gathers the lines that follow it into one `write`,
 * where a synchronous destination made one system call per line, on every request (about 3 % of
 * the Router's CPU per vault request, test/bench/vault-api). Lines still buffered when the
 * process exits, even after an uncaught error, are written by pino's exit handler.
 */
export function nodeLogger(options: {
  dataDir: string | null;
  level?: string;
  stdout?: boolean;
  base?: Record<string, string>;
}): Logger & { flush(): Promise<void> } {
  const streams: pino.StreamEntry[] = [];
  if (options.dataDir) {
    const dir = join(options.dataDir, 'logs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(join(dir, 'router.log'), 'a', 0o600);
    // minLength 1: a line is written at once, as with 0, but flush() then waits for the writes
    // in flight (with 0, sonic-boom calls back at once, before they land).
    streams.push({ stream: pino.destination({ fd, sync: false, minLength: 1 }) });
  }
  if (options.stdout) streams.push({ stream: process.stdout });
  const destination = streams.length === 1 ? streams[0]!.stream : pino.multistream(streams);
  const logger = pino({ level: options.level ?? 'info', base: { service: 'postern-router', ...options.base } }, destination);
  return {
    debug: (obj, msg) => logger.debug(obj, msg),
    info: (obj, msg) => logger.info(obj, msg),
    warn: (obj, msg) => logger.warn(obj, msg),
    error: (obj, msg) => logger.error(obj, msg),
    /** Resolves once every line logged so far is written. */
    flush: () => new Promise<void>((resolve) => logger.flush(() => resolve())),
  };
}
