/**
 * Small byte arrays carved out of shared slabs.
 *
 * Why: V8 gives every typed array above 64 bytes a backing store of its own, allocated outside
 * the heap, zero-filled and counted as external memory, which is several times the cost of the
 * array object itself; a request path that copies a few hundred bytes per request pays it on
 * every request. A view into a shared slab is an ordinary small heap object. The price is that
 * a slab lives until its last view dies, so this is for short-lived copies (a request's bytes
 * until it is answered), not for data kept indefinitely.
 *
 * @module
 */

/** Carves zero-filled views out of slabs of `slabBytes`; larger requests get their own array. */
export class Slab {
  readonly #slabBytes: number;
  readonly #ownArrayBytesMin: number;
  #slab: Uint8Array;
  #usedBytes = 0;

  /** `slabBytes`: size of each slab; a request of an eighth of it or more is not carved. */
  constructor(slabBytes = 64 * 1024) {
    if (!(slabBytes >= 64 && Number.isInteger(slabBytes))) {
      throw new RangeError(`Slab: bad slab size ${slabBytes}`);
    }
    this.#slabBytes = slabBytes;
    this.#ownArrayBytesMin = slabBytes / 8;
    this.#slab = new Uint8Array(slabBytes);
  }

  /** `bytes` zero bytes, possibly sharing an ArrayBuffer with earlier (disjoint) views. */
  alloc(bytes: number): Uint8Array {
    if (!(bytes >= 0)) throw new RangeError(`Slab: bad size ${bytes}`);
    if (bytes >= this.#ownArrayBytesMin) return new Uint8Array(bytes);
    if (this.#usedBytes + bytes > this.#slabBytes) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#usedBytes = 0;
    }
    const out = this.#slab.subarray(this.#usedBytes, this.#usedBytes + bytes);
    this.#usedBytes += bytes;
    return out;
  }

  /** A copy of `source` in a carved view. */
  copy(source: Uint8Array): Uint8Array {
    const out = this.alloc(source.length);
    out.set(source);
    return out;
  }
}
