/**
 * What the `postern-gateway` commands print to and read from, so tests can run them in-process.
 * Errors are one line on stderr, `postern-gateway: <message> (<code>)`; exit code 1 for
 * errors, 2 for usage errors.
 */
import { PosternError, UsageError } from '../../core/errors.ts';

export interface GatewayIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Whether stdin / stdout / stderr are terminals (the shell and pretty logs depend on it). */
  tty: { stdin: boolean; stdout: boolean; stderr: boolean };
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export function processIo(): GatewayIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    tty: { stdin: process.stdin.isTTY === true, stdout: process.stdout.isTTY === true, stderr: process.stderr.isTTY === true },
  };
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
export const printable = (text: string) => text.replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);

export function reportError(io: GatewayIo, err: unknown): number {
  if (err instanceof UsageError) {
    io.stderr.write(`postern-gateway: ${printable(err.message)} (bad_request)\n`);
    return EXIT_USAGE;
  }
  if (err instanceof PosternError) {
    io.stderr.write(`postern-gateway: ${printable(err.message)} (${err.code})\n`);
    return EXIT_ERROR;
  }
  const sys = err as NodeJS.ErrnoException | null;
  if (sys && typeof sys === 'object' && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    io.stderr.write(`postern-gateway: ${printable(sys.message)} (bad_request)\n`);
    return EXIT_ERROR;
  }
  io.stderr.write(`postern-gateway: ${printable(err instanceof Error ? err.message : String(err))} (internal)\n`);
  return EXIT_ERROR;
}
