/**
 * The seeded PRNG of the tests and benchmarks (mulberry32): small, fast, and deterministic, so
 * that a printed seed replays a failing run exactly. Not for anything that needs good randomness;
 * raft has its own injected generator (`raft/rand.ts`).
 *
 * @module
 */

/** A generator of floats in [0, 1) seeded by `seed` (only its low 32 bits count). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
