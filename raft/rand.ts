/**
 * A small seeded PRNG for raft's randomized election timeouts and for the simulator.
 *
 * raft/ has no randomness of its own: the driver injects a `Rand`. The default is
 * xoshiro128** (Blackman and Vigna) seeded through splitmix32, which is fast in 32-bit
 * JavaScript arithmetic and replays exactly from its seed.
 *
 * @module
 */

/** A source of uniformly distributed integers. */
export interface Rand {
  /** An integer in [0, n), for 0 < n <= 2^32. */
  intn(n: number): number;
}

/** xoshiro128**: 128 bits of state, 32-bit output, seeded with splitmix32. */
export class Xoshiro128 implements Rand {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** Seeds the generator; equal seeds give equal sequences. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`rand: seed ${seed} is not an integer`);
    // splitmix32 over the low and high halves of the seed fills the four words.
    let x = (seed >>> 0) ^ Math.floor(seed / 0x1_0000_0000);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** The next 32-bit unsigned value. */
  nextUint32(): number {
    const result = Math.imul(_rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = _rotl(this.#s3, 11);
    return result;
  }

  /** An integer in [0, n) (multiply-shift; the bias is below 2^-32 * n). */
  intn(n: number): number {
    if (!(n > 0 && n <= 0x1_0000_0000)) throw new RangeError(`rand: intn(${n}) out of range`);
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * n);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }
}

function _rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
