/**
 * Reconnect delays: exponential with "full jitter" (a uniformly random delay between zero and
 * the capped exponential), so a thousand gateways cut off by a Router restart come back spread
 * over the window instead of in one burst.
 *
 *   delay(attempt) = random() × min(capMs, baseMs × 2^attempt)
 *
 * (See "Exponential Backoff And Jitter", AWS Architecture Blog, 2015: full jitter gives the
 * fewest collisions and the least total work of the usual variants.)
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** 1 s, 2 s, 4 s, … up to 30 s, each the ceiling of a uniformly random delay. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 30_000 };

/** The upper bound of the delay before reconnect attempt `attempt` (0-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  return Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
}

export function fullJitterDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, policy));
}
