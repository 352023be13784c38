/**
 * Errors are values with stable codes. Callers branch on `code`, never on the message;
 * the message is for the administrator reading it and must never contain a secret.
 */
export const ERROR_CODES = {
  bad_request: 400,
  unauthorized: 401,
  session_expired: 401,
  bad_signature: 401,
  replayed: 401,
  request_expired: 401,
  not_allowed: 403,
  ip_locked: 403,
  revoked: 403,
  token_expired: 403,
  access_expired: 403,
  not_found: 404,
  conflict: 409,
  bad_state: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unknown_record_type: 422,
  throttled: 429,
  // A dependency of the Router (its database) is away: retry after the Retry-After header.
  unavailable: 503,
  decrypt_failed: 400,
  // Raised by clients, never by the Router: the server's identity or its data cannot be trusted.
  router_key_changed: 409,
  rollback_detected: 409,
  // Raised by clients, never by the Router: the server did not answer at all (refused, reset, DNS).
  unreachable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PosternError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PosternError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** V8's (Node, Deno, workerd) knob for stack capture; other engines lack it, and a frozen realm may not allow writing it. */
const errorStack = Error as { stackTraceLimit?: number };
const canSkipStacks = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')?.writable === true;

/**
 * A PosternError from a parser of untrusted bytes, with a stable `reason`. It carries no stack
 * trace: the fault is in the input, not in the code, and a server rejecting a flood of garbage
 * (datagrams, frames) would otherwise spend most of its time capturing stacks
 * (docs/decisions/0011-input-errors-without-stacks.md). The reason 'invalid_argument' is a caller's
 * programming error and keeps its stack.
 */
export class InputError<Reason extends string> extends PosternError {
  readonly reason: Reason;

  constructor(reason: Reason, code: ErrorCode, message: string) {
    const skipStack = canSkipStacks && reason !== 'invalid_argument';
    const limit = errorStack.stackTraceLimit;
    if (skipStack) errorStack.stackTraceLimit = 0;
    try {
      super(code, message, { reason });
    } finally {
      if (skipStack) errorStack.stackTraceLimit = limit;
    }
    this.name = 'InputError';
    this.reason = reason;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** A mistake in how a command line was written (both CLIs): exit code 2, reported with code `bad_request`. */
export class UsageError extends Error {
  readonly code: ErrorCode = 'bad_request';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
