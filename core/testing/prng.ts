/**
 * mulberry32: a small deterministic PRNG for tests (fuzzing, statistics), so that a failure can
 * be reproduced from its seed. Never for anything secret: that is core/crypto's randomBytes.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
