/**
 * What the CLI prints. Results go to stdout: a human table by default, one JSON document with
 * `--json`. Everything else (notices, warnings, errors) goes to stderr so that stdout stays
 * clean for scripts. Errors are `postern: <message> (<code>)`, or `{"error":{"code","message"}}`
 * with `--json`; exit code 1 for errors, 2 for usage errors (bad flags or arguments).
 *
 * Text that came from a vault (titles, folder names, field values) can contain control
 * characters put there by whoever shared it; the human renderings escape them so a record
 * cannot rewrite the administrator's terminal. `--json` and `get --field` stay exact.
 */
import { PosternError, UsageError } from '../../core/errors.ts';

export interface CliIo {
  stdout: { write(chunk: string | Uint8Array): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/**
 * A failure whose code is not one of the Router's error codes: an action outcome from a
 * gateway (`controller_down`, `timeout`, …) or a job that ended badly (`job_failed`). Exit 1.
 */
export class CliError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.details = details;
  }
}

// C0 and C1 control characters, DEL, and the Unicode bidi overrides that can disguise text.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Escapes characters that would act on a terminal instead of being shown. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (ch) => {
    if (ch === '\n') return '\\n';
    if (ch === '\t') return '\\t';
    if (ch === '\r') return '\\r';
    return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

export function isoTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '' : new Date(ms).toISOString();
}

/** "3 minutes ago", "in 2 hours", "just now": for people; tables add the ISO time beside it. */
export function relativeTime(ms: number, now: number = Date.now()): string {
  const delta = ms - now;
  const abs = Math.abs(delta);
  if (abs < 5_000) return 'just now';
  const units: [number, string][] = [
    [86_400_000 * 365, 'year'],
    [86_400_000 * 30, 'month'],
    [86_400_000 * 7, 'week'],
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ];
  const [size, name] = units.find(([u]) => abs >= u) ?? units[units.length - 1]!;
  const n = Math.floor(abs / size);
  const text = `${n} ${name}${n === 1 ? '' : 's'}`;
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

/** `3 minutes ago (2026-01-01T00:00:00.000Z)`, or '' for no time. */
export function whenText(ms: number | null | undefined, now: number = Date.now()): string {
  return ms === null || ms === undefined ? '' : `${relativeTime(ms, now)} (${isoTime(ms)})`;
}

export class Output {
  readonly io: CliIo;
  readonly json: boolean;

  constructor(io: CliIo, json: boolean) {
    this.io = io;
    this.json = json;
  }

  /** A command's result: `value` as JSON with --json, otherwise whatever `human` prints. */
  result(value: unknown, human: () => void): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else human();
  }

  /** One line of human output on stdout, made printable. */
  line(text = ''): void {
    this.io.stdout.write(`${printable(text)}\n`);
  }

  /** Exact bytes on stdout (a raw field value, a downloaded file). */
  raw(chunk: string | Uint8Array): void {
    this.io.stdout.write(chunk);
  }

  /** Aligned columns with a header row; an empty table prints `empty` instead. */
  table(headers: string[], rows: (string | number | boolean | null | undefined)[][], empty = '(none)'): void {
    if (rows.length === 0) {
      this.line(empty);
      return;
    }
    const cells = rows.map((r) => headers.map((_, i) => printable(r[i] === null || r[i] === undefined ? '' : String(r[i]))));
    const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => [...r[i]!].length)));
    const format = (r: string[]) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length)))
        .join('  ')
        .trimEnd();
    this.io.stdout.write(`${format(headers)}\n`);
    for (const r of cells) this.io.stdout.write(`${format(r)}\n`);
  }

  /** Two columns of label / value, for one object. */
  pairs(entries: [string, string | number | boolean | null | undefined][]): void {
    const width = Math.max(...entries.map(([k]) => k.length));
    for (const [k, v] of entries) this.line(`${k.padEnd(width)}  ${v === null || v === undefined ? '' : String(v)}`);
  }

  /** Information for the person at the terminal, never part of the result (stderr). */
  notice(text: string): void {
    this.io.stderr.write(`${printable(text)}\n`);
  }

  warn(text: string): void {
    this.io.stderr.write(`postern: warning: ${printable(text)}\n`);
  }
}

export interface ReportedError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  exitCode: number;
}

/** Turns anything thrown into what the user sees and the exit code. */
export function describeError(err: unknown): ReportedError {
  if (err instanceof UsageError) return { code: err.code, message: err.message, exitCode: EXIT_USAGE };
  if (err instanceof PosternError || err instanceof CliError) {
    return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}), exitCode: EXIT_ERROR };
  }
  const sys = err as NodeJS.ErrnoException | null;
  if (sys && typeof sys === 'object' && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    // A local file problem (ENOENT, EACCES, …): the message names the path, which is what the user needs.
    return { code: 'bad_request', message: sys.message, exitCode: EXIT_ERROR };
  }
  return { code: 'internal', message: err instanceof Error ? err.message : String(err), exitCode: EXIT_ERROR };
}

export function reportError(io: CliIo, json: boolean, err: ReportedError): void {
  if (json) {
    io.stderr.write(`${JSON.stringify({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } })}\n`);
    return;
  }
  io.stderr.write(`postern: ${printable(err.message)} (${err.code})\n`);
  const issues = err.details?.['issues'];
  if (Array.isArray(issues) && issues.length > 1) {
    for (const issue of issues) {
      const message = (issue as { message?: unknown })?.message;
      if (typeof message === 'string') io.stderr.write(`  - ${printable(message)}\n`);
    }
  }
}
