/**
 * The gateway's logs: pino JSON lines to `<dir>/gateway.log` (mode 0600 in a 0700 directory),
 * rotated by rotating-file-stream at 10 MB with the last 10 kept gzipped; on a terminal also
 * short human lines on stderr. Every line passes through the secret scrubber before it is
 * written anywhere, so a secret that slips into a message, an object or an error's stack is
 * replaced by [REDACTED]. Known secret-bearing keys are redacted by pino as well.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import { REDACTED, type SecretScrubber } from './scrubber.ts';

export const LOG_FILE = 'gateway.log';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `pretty`: short lines for a person; `json`: the file's lines (containers, `docker logs`); `none`. */
export type ConsoleMode = 'pretty' | 'json' | 'none';

export interface Writer {
  write(chunk: string): unknown;
}

export interface GatewayLogOptions {
  /** Where gateway.log lives; null writes no file (tests of the console only). */
  dir: string | null;
  level: LogLevel;
  console: ConsoleMode;
  consoleStream?: Writer;
  scrubber: SecretScrubber;
  /** Rotation thresholds; tests make them small. */
  rotation?: { size: `${number}${'B' | 'K' | 'M' | 'G'}`; maxFiles: number };
}

export interface GatewayLog {
  logger: Logger;
  file: string | null;
  setLevel(level: LogLevel): void;
  readonly level: LogLevel;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** Keys whose values are secrets wherever they appear in a log object. */
const REDACT_PATHS = ['privateKey', 'appKey', 'token', 'password', 'secret', '*.privateKey', '*.appKey', '*.token', '*.password', '*.secret'];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name', 'service']);

/** One JSON log line as a short line for a person: `12:03:04 WARN message key=value`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = new Date(typeof entry['time'] === 'number' ? entry['time'] : Date.now()).toISOString().slice(11, 19);
  const level = (LEVEL_NAMES[entry['level'] as number] ?? String(entry['level'])).padEnd(5);
  const extras = Object.entries(entry)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v && typeof v === 'object' && 'message' in v) return `err=${JSON.stringify((v as { message: unknown }).message)}`;
      return `${k}=${typeof v === 'string' && /^[\w.:/@-]+$/.test(v) ? v : JSON.stringify(v)}`;
    });
  return `${time} ${level} ${String(entry['msg'] ?? '')}${extras.length ? `  ${extras.join(' ')}` : ''}\n`;
}

/** Creates `dir` 0700 if missing; an existing directory keeps its mode unless it is ours and open to others. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0 && typeof process.getuid === 'function' && st.uid === process.getuid()) chmodSync(dir, 0o700);
}

export function createGatewayLog(options: GatewayLogOptions): GatewayLog {
  const { scrubber } = options;
  const consoleStream = options.consoleStream ?? process.stderr;
  let file: RotatingFileStream | null = null;
  let filePath: string | null = null;
  if (options.dir !== null) {
    ensurePrivateDir(options.dir);
    filePath = join(options.dir, LOG_FILE);
    if (existsSync(filePath) && (statSync(filePath).mode & 0o077) !== 0) chmodSync(filePath, 0o600);
    file = createStream(LOG_FILE, {
      path: options.dir,
      size: options.rotation?.size ?? '10M',
      maxFiles: options.rotation?.maxFiles ?? 10,
      compress: 'gzip',
      mode: 0o600,
    });
    let complained = false;
    file.on('error', (err) => {
      if (complained) return;
      complained = true;
      consoleStream.write(`postern-gateway: cannot write the log file ${filePath}: ${scrubber.scrub(err.message)}\n`);
    });
    file.on('warning', (err) => consoleStream.write(`postern-gateway: log rotation: ${scrubber.scrub(err.message)}\n`));
  }

  const destination = {
    write(line: string): void {
      const clean = scrubber.scrub(line);
      file?.write(clean);
      if (options.console === 'json') consoleStream.write(clean);
      else if (options.console === 'pretty') consoleStream.write(prettyLine(clean));
    },
  };

  const logger = pino(
    {
      level: options.level,
      base: { service: 'postern-gateway', pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    destination,
  );

  return {
    logger,
    file: filePath,
    get level() {
      return logger.level as LogLevel;
    },
    setLevel(level: LogLevel) {
      logger.level = level;
    },
    close() {
      const stream = file;
      file = null;
      if (!stream) return Promise.resolve();
      return new Promise<void>((resolve) => {
        stream.end(() => resolve());
        setTimeout(resolve, 2000).unref();
      });
    },
  };
}
