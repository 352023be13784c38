/**
 * Remembers the signalling session ids this gateway answered, for as long as an offer stays
 * fresh (core/protocol/webrtc-signalling.ts), so the same sealed offer replayed through a
 * compromised Router starts nothing. Bounded: beyond `max` live entries new sessions are
 * refused rather than old ones forgotten early.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  /** True the first time `id` is offered within ttlMs; false for a replay or when full. */
  accept(id: string, now: number): boolean {
    this.prune(now);
    if (this.seen.has(id) || this.seen.size >= this.max) return false;
    this.seen.set(id, now + this.ttlMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    // Insertion order is expiry order (one ttl for all), so stop at the first live entry.
    for (const [id, expires] of this.seen) {
      if (expires > now) break;
      this.seen.delete(id);
    }
  }
}
