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

/** Ranges up to this long are copied by a loop in `copyRange`. */
const _LOOP_COPY_BYTES_MAX = 1024;

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

  /**
   * A copy of `source[start, end)` in a carved view, without a view of the range: a short
   * range is copied byte by byte (cheaper than the view `set` needs, which is a heap object),
   * a long one with `set`.
   */
  copyRange(source: Uint8Array, start: number, end: number): Uint8Array {
    if (!(start >= 0 && start <= end && end <= source.length)) {
      throw new RangeError(`Slab: bad range [${start}, ${end}) of ${source.length}`);
    }
    const out = this.alloc(end - start);
    if (end - start > _LOOP_COPY_BYTES_MAX) {
      out.set(source.subarray(start, end));
      return out;
    }
    for (let i = start; i < end; i++) out[i - start] = source[i]!;
    return out;
  }
}
