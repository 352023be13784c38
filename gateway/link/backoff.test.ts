import { describe, expect, it } from 'vitest';
import { backoffCeiling, DEFAULT_BACKOFF, fullJitterDelay } from './backoff.ts';
import { mulberry32 as seeded } from '../../core/testing/prng.ts';

describe('full-jitter backoff', () => {
  it('grows exponentially from the base and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((n) => backoffCeiling(n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(backoffCeiling(-3)).toBe(DEFAULT_BACKOFF.baseMs);
    expect(fullJitterDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(fullJitterDelay(3, DEFAULT_BACKOFF, () => 0.999999)).toBe(7999);
    for (let i = 0; i < 1000; i++) {
      const d = fullJitterDelay(i % 12);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(backoffCeiling(i % 12));
    }
  });

  for (const [label, random] of [
    ['seeded', seeded(20240611)],
    ['Math.random', Math.random],
  ] as const) {
    it(`spreads 1,000 gateways' delays over the whole window (${label})`, () => {
      const attempt = 5; // ceiling 30 s (the cap)
      const ceiling = backoffCeiling(attempt);
      const delays = Array.from({ length: 1000 }, () => fullJitterDelay(attempt, DEFAULT_BACKOFF, random));
      // Ten equal buckets: each should hold ~100; a burst would put most of them in one.
      const buckets = new Array<number>(10).fill(0);
      for (const d of delays) buckets[Math.floor((d / ceiling) * 10)]! += 1;
      expect(Math.max(...buckets), `buckets ${buckets.join(',')}`).toBeLessThanOrEqual(150);
      expect(Math.min(...buckets), `buckets ${buckets.join(',')}`).toBeGreaterThanOrEqual(55);
      // No single second of the window sees more than a few percent of the fleet.
      const perSecond = new Map<number, number>();
      for (const d of delays) perSecond.set(Math.floor(d / 1000), (perSecond.get(Math.floor(d / 1000)) ?? 0) + 1);
      expect(Math.max(...perSecond.values())).toBeLessThan(70);
      // Spread, not bunched: the delays cover the window and are nearly all distinct.
      expect(Math.min(...delays)).toBeLessThan(ceiling * 0.02);
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.98);
      expect(new Set(delays).size).toBeGreaterThan(950);
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      expect(mean).toBeGreaterThan(ceiling * 0.45);
      expect(mean).toBeLessThan(ceiling * 0.55);
    });
  }

  it('after a Router restart, 1,000 simulated gateways come back spread over seconds, not at once', () => {
    // Each gateway retries with full jitter until the Router is back (down for 4 s), then connects.
    const random = seeded(7);
    const downForMs = 4000;
    const arrivals: number[] = [];
    for (let g = 0; g < 1000; g++) {
      let t = 0;
      let attempt = 0;
      for (;;) {
        t += fullJitterDelay(attempt++, DEFAULT_BACKOFF, random);
        if (t >= downForMs) break;
      }
      arrivals.push(t);
    }
    const window = Math.max(...arrivals) - Math.min(...arrivals);
    expect(window).toBeGreaterThan(5000);
    // The busiest 100 ms after the restart holds a small share of the fleet.
    const per100 = new Map<number, number>();
    for (const t of arrivals) per100.set(Math.floor(t / 100), (per100.get(Math.floor(t / 100)) ?? 0) + 1);
    const busiest = Math.max(...per100.values());
    expect(busiest, `busiest 100 ms slot: ${busiest} gateways`).toBeLessThan(60);
    // Most are back within the cap plus the outage.
    expect(arrivals.filter((t) => t <= downForMs + DEFAULT_BACKOFF.capMs).length).toBe(1000);
  });
});
