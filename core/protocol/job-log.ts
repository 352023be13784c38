/**
 * Sealed job logs. What a gateway reports about a job on a record (a rotation's log lines and its
 * final message) names hosts, logins and script output, so it is sealed to the readers of that
 * record: the key is derived from the record key and the job UID, and the Router stores and
 * relays ciphertext. What stays plaintext is what the Router needs to run jobs: status, progress,
 * the step name (never a host or a login), and the error code of a failed job.
 *
 *   line      sealed:v1:<n>:<base64url>            n counts the job's sealed lines from 1
 *   message   [<code>: ]sealed:v1:m:<base64url>    code: the failure code, bound to the message
 *
 * Each sealed text is AES-GCM with associated data naming the job and the line number (or the
 * code), so the Router cannot move a line to another job, reorder lines unnoticed (numbers must
 * rise), or change the code of a failure. Text without the prefix is plaintext: the Router's own
 * notes ("the gateway did not answer") and what a gateway says before it holds the record key
 * (job UIDs only). See docs/decisions/0005-sealed-job-logs.md.
 */
import { fromUtf8, hkdfSha256, openBytes, sealBytes, utf8 } from '../crypto/index.ts';
import { PosternError } from '../errors.ts';

/** Plaintext limits the gateway clips to before sealing. */
export const JOB_STEP_MAX = 200;
export const JOB_LINE_MAX = 4000;
export const JOB_MESSAGE_MAX = 2000;

/** The longest text a `max`-character plaintext seals to (3 UTF-8 bytes per UTF-16 unit at most), with room for the prefix and a code. */
const sealedMax = (max: number) => 4 * Math.ceil((3 * max + 28) / 3) + 128;
export const JOB_LINE_WIRE_MAX = sealedMax(JOB_LINE_MAX);
export const JOB_MESSAGE_WIRE_MAX = sealedMax(JOB_MESSAGE_MAX);

const PREFIX = 'sealed:v1:';
const LINE = /^sealed:v1:([1-9][0-9]{0,14}):([A-Za-z0-9_-]+)$/;
const MESSAGE = /^(?:([a-z][a-z0-9_]{0,63}): )?sealed:v1:m:([A-Za-z0-9_-]+)$/;

const linePurpose = (jobUid: string, n: number) => `job-log/${jobUid}/${n}`;
const messagePurpose = (jobUid: string, code: string | null) => `job-message/${jobUid}/${code ?? ''}`;

/** The key a job's log is sealed with: HKDF-SHA256 of the record key, bound to the job. */
export function jobLogKey(recordKey: Uint8Array, jobUid: string): Uint8Array {
  return hkdfSha256(recordKey, utf8('postern/job-log/v1'), utf8(jobUid), 32);
}

export function isSealedJobText(text: string): boolean {
  return LINE.test(text) || MESSAGE.test(text);
}

export async function sealJobLine(key: Uint8Array, jobUid: string, n: number, line: string): Promise<string> {
  if (!Number.isSafeInteger(n) || n < 1) throw new PosternError('bad_request', `A sealed job line number must be a positive integer, not ${n}.`);
  return `${PREFIX}${n}:${await sealBytes(key, utf8(line), linePurpose(jobUid, n))}`;
}

/** The line's number when `text` is a sealed line, else null (plaintext). */
export function sealedLineNumber(text: string): number | null {
  const m = LINE.exec(text);
  return m ? Number(m[1]) : null;
}

/** Opens a sealed line; `decrypt_failed` when it was altered, moved from another job, or the key is wrong. */
export async function openJobLine(key: Uint8Array, jobUid: string, text: string): Promise<{ n: number; line: string }> {
  const m = LINE.exec(text);
  if (!m) throw new PosternError('bad_request', 'This job log line is not sealed.');
  const n = Number(m[1]);
  try {
    return { n, line: fromUtf8(await openBytes(key, m[2]!, linePurpose(jobUid, n))) };
  } catch {
    throw new PosternError(
      'decrypt_failed',
      `Sealed line ${n} of job ${jobUid} does not open with this record's key: it was altered, or moved from another job.`,
    );
  }
}

/** A job's final message, sealed; a failure's code stays readable in front of it (and is bound to it). */
export async function sealJobMessage(key: Uint8Array, jobUid: string, message: string, code: string | null = null): Promise<string> {
  const sealed = `${PREFIX}m:${await sealBytes(key, utf8(message), messagePurpose(jobUid, code))}`;
  return code ? `${code}: ${sealed}` : sealed;
}

/** The failure code of a sealed message (null when it has none or is not sealed). */
export function sealedMessageCode(text: string): string | null {
  return MESSAGE.exec(text)?.[1] ?? null;
}

/** Opens a sealed message, as the gateway wrote it: `code: message` for a failure. */
export async function openJobMessage(key: Uint8Array, jobUid: string, text: string): Promise<string> {
  const m = MESSAGE.exec(text);
  if (!m) throw new PosternError('bad_request', 'This job message is not sealed.');
  const code = m[1] ?? null;
  try {
    const message = fromUtf8(await openBytes(key, m[2]!, messagePurpose(jobUid, code)));
    return code ? `${code}: ${message}` : message;
  } catch {
    throw new PosternError('decrypt_failed', `The message of job ${jobUid} does not open with this record's key: it was altered, or its code was changed.`);
  }
}
