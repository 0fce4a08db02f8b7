/**
 * A queue of received byte chunks that a decoder can peek into and take from.
 *
 * A stream body arrives in chunks cut wherever the network cut it; the frame decoders look ahead
 * (`peekUint8`, `peekUint64`) until a whole frame is buffered and only then `take` it, so a
 * decoder never has to keep a half-read frame as state.
 *
 * @module
 */

const _TWO_POW_32 = 2 ** 32;

/** Received bytes not yet consumed, as a list of chunks. */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  /** Offset of the first unconsumed byte in `chunks[0]`. */
  #head = 0;
  #size = 0;

  /** Number of bytes buffered. */
  get length(): number {
    return this.#size;
  }

  /** Appends a received chunk (kept by reference, not copied). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** The byte at `offset` from the front; the caller checks `length` first. */
  peekUint8(offset: number): number {
    if (offset < 0 || offset >= this.#size) {
      throw new RangeError(`peek at ${offset} of ${this.#size}`);
    }
    let at = offset + this.#head;
    for (const chunk of this.#chunks) {
      if (at < chunk.length) return chunk[at]!;
      at -= chunk.length;
    }
    throw new Error("unreachable: size and chunks disagree");
  }

  /** The big-endian unsigned 64-bit integer at `offset` from the front. */
  peekUint64(offset: number): bigint {
    if (offset + 8 > this.#size) {
      throw new RangeError(`peek of 8 bytes at ${offset} of ${this.#size}`);
    }
    let value = 0n;
    for (let i = 0; i < 8; i++) value = (value << 8n) | BigInt(this.peekUint8(offset + i));
    return value;
  }

  /**
   * `Number(peekUint64(offset))` without BigInt arithmetic (which made 16 BigInts per call, for
   * every frame length on the peer streams): exact below 2^53 and, above, rounded to nearest as
   * `Number()` of the BigInt is, since the high word times 2^32 is exact and the one addition
   * rounds once.
   */
  peekUint64Number(offset: number): number {
    if (offset + 8 > this.#size) {
      throw new RangeError(`peek of 8 bytes at ${offset} of ${this.#size}`);
    }
    let at = offset + this.#head;
    for (const chunk of this.#chunks) {
      if (at >= chunk.length) {
        at -= chunk.length;
        continue;
      }
      if (at + 8 > chunk.length) break; // split across chunks: byte by byte below
      const high = ((chunk[at]! << 24) | (chunk[at + 1]! << 16) | (chunk[at + 2]! << 8) |
        chunk[at + 3]!) >>> 0;
      const low = ((chunk[at + 4]! << 24) | (chunk[at + 5]! << 16) | (chunk[at + 6]! << 8) |
        chunk[at + 7]!) >>> 0;
      return high * _TWO_POW_32 + low;
    }
    let high = 0;
    let low = 0;
    for (let i = 0; i < 4; i++) high = high * 256 + this.peekUint8(offset + i);
    for (let i = 4; i < 8; i++) low = low * 256 + this.peekUint8(offset + i);
    return high * _TWO_POW_32 + low;
  }

  /** Removes and returns the first `count` bytes (a view when they lie in one chunk). */
  take(count: number): Uint8Array {
    if (count < 0 || count > this.#size) throw new RangeError(`take ${count} of ${this.#size}`);
    const first = this.#chunks[0];
    if (count === 0) return new Uint8Array(0);
    if (first !== undefined && this.#head + count <= first.length) {
      const view = first.subarray(this.#head, this.#head + count);
      this.#consume(count);
      return view;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length - this.#head, count - filled);
      out.set(chunk.subarray(this.#head, this.#head + n), filled);
      filled += n;
      this.#consume(n);
    }
    return out;
  }

  /** Removes and returns the big-endian unsigned 64-bit integer at the front. */
  takeUint64(): bigint {
    const value = this.peekUint64(0);
    this.#consume(8);
    return value;
  }

  /** Removes and returns the big-endian u64 at the front as `peekUint64Number` reads it. */
  takeUint64Number(): number {
    const value = this.peekUint64Number(0);
    this.#consume(8);
    return value;
  }

  /** Removes and returns everything buffered, as chunks. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const first = this.#chunks[0];
    if (first !== undefined) out.push(first.subarray(this.#head));
    for (let i = 1; i < this.#chunks.length; i++) out.push(this.#chunks[i]!);
    this.#chunks = [];
    this.#head = 0;
    this.#size = 0;
    return out;
  }

  #consume(count: number): void {
    let left = count;
    while (left > 0) {
      const chunk = this.#chunks[0]!;
      const rest = chunk.length - this.#head;
      if (left < rest) {
        this.#head += left;
        break;
      }
      left -= rest;
      this.#chunks.shift();
      this.#head = 0;
    }
    this.#size -= count;
  }
}
