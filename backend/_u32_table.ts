/**
 * An open-addressing hash table from u32 keys to one or two u32 values, in one typed array.
 * Each slot holds its key and values side by side (one cache line per probe), linear probing,
 * and deletion shifts later entries back instead of leaving tombstones, so lookups never slow
 * down under churn. Key 0 means "empty", which is safe for page ids (pages 0 and 1 are metas
 * and never free).
 *
 * The hash keeps blocks of 64 consecutive keys together: the block number is scrambled by a
 * Fibonacci multiply and the low six bits are added back. Free-span starts are sorted when a
 * freelist is rebuilt, so filling the table touches one random cache region per block rather
 * than one per key (10^7 spans: about 10x faster on this machine), while distinct blocks still
 * land at random places.
 *
 * @module
 */

import { assert } from "./errors.ts";

const MAX_LOAD = 0.75;
const BLOCK_BITS = 6;
const MIN_BITS = 8;

/** u32 -> (u32, u32) hash table. */
export class U32Table {
  /** Slots of `stride` u32: key, value, value2. */
  slots: Uint32Array;
  size = 0;
  readonly #stride: number;
  #mask: number;
  #shift: number;

  /** `values` is 1 or 2: how many u32 values each key carries. */
  constructor(capacityHint = 16, values: 1 | 2 = 2) {
    let bits = MIN_BITS;
    while ((1 << bits) * MAX_LOAD < capacityHint && bits < 30) bits++;
    this.#stride = values === 2 ? 4 : 2;
    this.slots = new Uint32Array((1 << bits) * this.#stride);
    this.#mask = (1 << bits) - 1;
    this.#shift = 32 - bits;
  }

  #home(key: number): number {
    return ((Math.imul(key >>> BLOCK_BITS, 0x9e3779b1) >>> this.#shift) + (key & 63)) & this.#mask;
  }

  /** Offset of `key`'s slot in `slots`, or -1. */
  find(key: number): number {
    const slots = this.slots;
    const stride = this.#stride;
    let i = this.#home(key);
    for (;;) {
      const k = slots[i * stride]!;
      if (k === key) return i * stride;
      if (k === 0) return -1;
      i = (i + 1) & this.#mask;
    }
  }

  /** The first value at a slot offset from find(). */
  value(at: number): number {
    return this.slots[at + 1]!;
  }

  /** The second value at a slot offset from find(). */
  value2(at: number): number {
    return this.slots[at + 2]!;
  }

  /** Sets the second value at a slot offset from find(). */
  setValue2(at: number, value2: number): void {
    this.slots[at + 2] = value2;
  }

  /** Inserts or replaces `key`. */
  set(key: number, value: number, value2: number): void {
    assert(key !== 0, "U32Table key 0 is reserved");
    if (this.size + 1 > (this.#mask + 1) * MAX_LOAD) this.#grow();
    const slots = this.slots;
    const stride = this.#stride;
    let i = this.#home(key);
    for (;;) {
      const at = i * stride;
      const k = slots[at]!;
      if (k === key || k === 0) {
        if (k === 0) this.size++;
        slots[at] = key;
        slots[at + 1] = value;
        if (stride === 4) slots[at + 2] = value2;
        return;
      }
      i = (i + 1) & this.#mask;
    }
  }

  /** Removes the entry at slot offset `at` (from find()). */
  deleteAt(at: number): void {
    const slots = this.slots;
    const stride = this.#stride;
    const mask = this.#mask;
    let hole = at / stride;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const k = slots[j * stride]!;
      if (k === 0) break;
      const home = this.#home(k);
      // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        slots.copyWithin(hole * stride, j * stride, j * stride + stride);
        hole = j;
      }
    }
    slots[hole * stride] = 0;
    this.size--;
  }

  /** Calls `fn` with every key and the slot offset of its values. */
  forEach(fn: (key: number, at: number) => void): void {
    const slots = this.slots;
    for (let at = 0; at < slots.length; at += this.#stride) {
      if (slots[at] !== 0) fn(slots[at]!, at);
    }
  }

  #grow(): void {
    const old = this.slots;
    const stride = this.#stride;
    const capacity = (this.#mask + 1) * 2;
    assert(capacity <= 2 ** 30, "U32Table too large");
    this.slots = new Uint32Array(capacity * stride);
    this.#mask = capacity - 1;
    this.#shift--;
    this.size = 0;
    for (let at = 0; at < old.length; at += stride) {
      const k = old[at]!;
      if (k !== 0) this.set(k, old[at + 1]!, old[at + 2] ?? 0);
    }
  }
}
