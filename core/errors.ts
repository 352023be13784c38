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
  decrypt_failed: 400,
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

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}
