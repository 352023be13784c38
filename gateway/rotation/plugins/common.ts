/**
 * What the rotation plugins (./ssh.ts, ./mysql.ts, ./postgres.ts, ./ldap.ts) would otherwise each
 * write again: the `host:port` of messages, the socket error codes that mean "no connection",
 * the secrets a step must keep out of its messages and the cutting of them out of server text,
 * the password of a credential, settling a step when the job is cancelled, and a polite close
 * with a deadline. What only the two SQL plugins share is in ./database-session.ts.
 *
 * Only what is the same in every plugin that uses it lives here; each plugin keeps its own
 * wording, its own error codes beyond the common ones, and its own reading of its server's errors.
 */
import type { Credential, Endpoint, RotationTarget } from '../plugin.ts';
import { RotationFailure } from '../plugin.ts';

// ---------------------------------------------------------------------------------------------
// Messages

/** `host:port` of the resource, as messages and log lines name it. */
export function addressOf(endpoint: Endpoint): string {
  return `${endpoint.hostname}:${endpoint.port}`;
}

/** `text` cut to `max` characters, with an ellipsis when something was cut. */
export function clipped(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// Network errors

/**
 * Node's socket error codes that mean "no usable connection to the server" in every plugin; a
 * plugin adds the codes its driver or protocol also reports that way.
 */
export const UNREACHABLE_SOCKET_CODES: readonly string[] = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
];

/**
 * The error that says why: Node reports a failed connect to a host with several addresses
 * (localhost → ::1, 127.0.0.1) as an AggregateError, whose first error is the one to read.
 */
export function firstCause(err: unknown): unknown {
  let e = err;
  while (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
  return e;
}

// ---------------------------------------------------------------------------------------------
// Credentials and secrets

/** The password of a credential; `ifKey` is the message of the `unsupported` failure for a key. */
export function passwordOf(credential: Credential, ifKey: string): string {
  if (credential.kind !== 'password') throw new RotationFailure('unsupported', ifKey);
  return credential.password;
}

/**
 * Every secret of the call that may show up in server text: `extra` (the new password, or the
 * one being verified), then the user's and the admin's credentials (password, or private key and
 * passphrase). Empty strings are left out.
 */
export function secretsOf(target: RotationTarget, ...extra: string[]): string[] {
  const all = [...extra];
  for (const account of [target.user, target.admin]) {
    const credential = account?.credential;
    if (credential?.kind === 'password') all.push(credential.password);
    if (credential?.kind === 'key') all.push(credential.privateKey, ...(credential.passphrase ? [credential.passphrase] : []));
  }
  return all.filter((s) => s.length > 0);
}

/** `text` with every occurrence of each (non-empty) secret replaced by `mark`, in the order given. */
export function withoutSecrets(text: string, secrets: Iterable<string>, mark = '[redacted]'): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(mark);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cancellation and closing

/**
 * `running`, unless the job is cancelled first: then this rejects at once with what `onCancel`
 * returns, and `onCancel` is where the caller tears down what it opened (so `running` ends too).
 * A job already cancelled before this is called is the caller's to check: no abort event comes.
 */
export async function unlessCancelled<T>(signal: AbortSignal, running: Promise<T>, onCancel: () => RotationFailure): Promise<T> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(onCancel());
  });
  aborted.catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([running, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * For a step that settles its promise from a driver's callbacks (ssh2's events), where racing a
 * promise does not fit: the returned `settle(err)` runs `end(err)` the first time only (later
 * calls do nothing), and a cancel of the job settles it with what `cancelled` returns. A job
 * already cancelled before this is called is the caller's to check: no abort event comes.
 */
export function settleOnce(
  signal: AbortSignal,
  cancelled: () => RotationFailure,
  end: (err: RotationFailure | null) => void,
): (err: RotationFailure | null) => void {
  let settled = false;
  const settle = (err: RotationFailure | null): void => {
    if (settled) return;
    settled = true;
    signal.removeEventListener('abort', onAbort);
    end(err);
  };
  const onAbort = (): void => settle(cancelled());
  signal.addEventListener('abort', onAbort, { once: true });
  return settle;
}

/** Waits for a polite close (`end`: a driver's goodbye message) for at most `graceMs`; its errors are ignored. */
export async function endWithin(end: () => Promise<unknown>, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
    timer.unref();
  });
  await Promise.race([end().catch(() => {}), gaveUp]);
  clearTimeout(timer);
}
