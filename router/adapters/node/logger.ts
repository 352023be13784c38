import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from '../../logger.ts';

/** Structured logs to `<data>/logs/router.log` (and stdout when asked); `base` names the process in a cluster. */
export function nodeLogger(options: { dataDir: string | null; level?: string; stdout?: boolean; base?: Record<string, string> }): Logger & { flush(): void } {
  const streams: pino.StreamEntry[] = [];
  if (options.dataDir) {
    const dir = join(options.dataDir, 'logs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    streams.push({ stream: pino.destination({ dest: join(dir, 'router.log'), mkdir: true, sync: true, mode: 0o600 }) });
  }
  if (options.stdout) streams.push({ stream: process.stdout });
  const logger = pino({ level: options.level ?? 'info', base: { service: 'postern-router', ...options.base } }, pino.multistream(streams));
  return {
    debug: (obj, msg) => logger.debug(obj, msg),
    info: (obj, msg) => logger.info(obj, msg),
    warn: (obj, msg) => logger.warn(obj, msg),
    error: (obj, msg) => logger.error(obj, msg),
    flush: () => logger.flush(),
  };
}
