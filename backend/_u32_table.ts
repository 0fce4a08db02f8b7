/**
 * An open-addressing hash table from u32 keys to one or two u32 values, in typed arrays.
 * Linear probing with Fibonacci hashing; deletion shifts later entries back instead of
 * leaving tombstones, so lookups never slow down under churn. Key 0 means "empty", which is
 * safe for page ids (pages 0 and 1 are the metas and never free).
 *
 * @module
 */

import { assert } from "./errors.ts";

const MAX_LOAD = 0.75;

/** u32 -> (u32, u32) hash table. */
export class U32Table {
  keys: Uint32Array;
  values: Uint32Array;
  values2: Uint32Array;
  size = 0;
  private _mask: number;
  private _shift: number;

  constructor(capacityHint = 16) {
    let bits = 4;
    while ((1 << bits) * MAX_LOAD < capacityHint && bits < 31) bits++;
    this.keys = new Uint32Array(1 << bits);
    this.values = new Uint32Array(1 << bits);
    this.values2 = new Uint32Array(1 << bits);
    this._mask = (1 << bits) - 1;
    this._shift = 32 - bits;
  }

  /** Slot index of `key`, or -1. */
  find(key: number): number {
    const keys = this.keys;
    let i = Math.imul(key, 0x9e3779b1) >>> this._shift;
    for (;;) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k === 0) return -1;
      i = (i + 1) & this._mask;
    }
  }

  /** Inserts or replaces `key`. */
  set(key: number, value: number, value2: number): void {
    assert(key !== 0, "U32Table key 0 is reserved");
    if (this.size + 1 > (this._mask + 1) * MAX_LOAD) this._grow();
    const keys = this.keys;
    let i = Math.imul(key, 0x9e3779b1) >>> this._shift;
    for (;;) {
      const k = keys[i]!;
      if (k === key || k === 0) {
        if (k === 0) this.size++;
        keys[i] = key;
        this.values[i] = value;
        this.values2[i] = value2;
        return;
      }
      i = (i + 1) & this._mask;
    }
  }

  /** Removes the entry at slot `slot` (from find()). */
  deleteAt(slot: number): void {
    const keys = this.keys;
    const mask = this._mask;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j]!;
      if (k === 0) break;
      const home = Math.imul(k, 0x9e3779b1) >>> this._shift;
      // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        keys[hole] = k;
        this.values[hole] = this.values[j]!;
        this.values2[hole] = this.values2[j]!;
        hole = j;
      }
    }
    keys[hole] = 0;
    this.size--;
  }

  /** Removes every entry, keeping the capacity. */
  clear(): void {
    this.keys.fill(0);
    this.size = 0;
  }

  private _grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const oldValues2 = this.values2;
    const capacity = oldKeys.length * 2;
    assert(capacity <= 2 ** 31, "U32Table too large");
    this.keys = new Uint32Array(capacity);
    this.values = new Uint32Array(capacity);
    this.values2 = new Uint32Array(capacity);
    this._mask = capacity - 1;
    this._shift--;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k !== 0) this.set(k, oldValues[i]!, oldValues2[i]!);
    }
  }
}
