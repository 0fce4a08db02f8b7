/**
 * A fixed-size set of small integers (which operations are linearized), with the hash and
 * equality the search cache needs.
 *
 * @module
 */

/** A bitset over [0, size). */
export class Bitset {
  readonly words: Uint32Array;

  constructor(readonly size: number, words?: Uint32Array) {
    this.words = words ?? new Uint32Array(Math.ceil(size / 32));
  }

  /** A copy. */
  clone(): Bitset {
    return new Bitset(this.size, this.words.slice());
  }

  /** Adds `bit`. */
  set(bit: number): this {
    this.words[bit >>> 5]! |= 1 << (bit & 31);
    return this;
  }

  /** Removes `bit`. */
  clear(bit: number): this {
    this.words[bit >>> 5]! &= ~(1 << (bit & 31));
    return this;
  }

  /** True when `bit` is in the set. */
  has(bit: number): boolean {
    return (this.words[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** Number of members. */
  count(): number {
    let total = 0;
    for (let word of this.words) {
      while (word !== 0) {
        word &= word - 1;
        total++;
      }
    }
    return total;
  }

  /** A 32-bit hash of the members (FNV-1a over the words). */
  hash(): number {
    let h = 0x811c9dc5;
    for (const word of this.words) {
      h = Math.imul(h ^ (word & 0xffff), 0x01000193);
      h = Math.imul(h ^ (word >>> 16), 0x01000193);
    }
    return h >>> 0;
  }

  /** True when both sets have the same members. */
  equals(other: Bitset): boolean {
    if (other.words.length !== this.words.length) return false;
    for (let i = 0; i < this.words.length; i++) {
      if (this.words[i] !== other.words[i]) return false;
    }
    return true;
  }
}
