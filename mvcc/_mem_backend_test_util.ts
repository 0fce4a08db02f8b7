/**
 * A small in-memory implementation of the backend surface (test-only), so that `mvcc/` and
 * `lease/` can be tested without `backend/`. Buckets are sorted maps keyed by latin1 strings of
 * the key bytes; every read sees every write (one thread, no isolation to model). `commits()`
 * counts forced commits; `clone()` gives an independent copy, used to simulate a reopen.
 *
 * @module
 */

import { BTree } from "./_btree.ts";
import { crc32c } from "../checksum/mod.ts";
import {
  type Backend,
  type BatchTx,
  type ReadTx,
  type ValuePart,
  wholeValuePart,
} from "../backend/mod.ts";
import { bytesToKeyString } from "./key_bytes.ts";

type _Bucket = InstanceType<typeof BTree<string, [Uint8Array, Uint8Array]>>;

function _compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

class _MemTx implements BatchTx {
  locked = false;
  readonly #buckets: Map<string, _Bucket>;

  constructor(buckets: Map<string, _Bucket>) {
    this.#buckets = buckets;
  }

  lock(): void {
    if (this.locked) throw new Error("mem backend: batch tx locked twice");
    this.locked = true;
  }
  unlock(): void {
    if (!this.locked) throw new Error("mem backend: batch tx unlocked while not locked");
    this.locked = false;
  }
  unsafeCreateBucket(name: Uint8Array): void {
    const id = bytesToKeyString(name);
    if (!this.#buckets.has(id)) this.#buckets.set(id, new BTree(undefined, _compare));
  }
  unsafeDeleteBucket(name: Uint8Array): void {
    this.#buckets.delete(bytesToKeyString(name));
  }
  unsafePut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.#bucket(bucket).set(bytesToKeyString(key), [key.slice(), value.slice()]);
  }
  unsafePutOwned(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.unsafePut(bucket, key, value);
  }
  unsafeSeqPut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.unsafePut(bucket, key, value);
  }
  unsafeDelete(bucket: Uint8Array, key: Uint8Array): void {
    this.#bucket(bucket).delete(bytesToKeyString(key));
  }
  commit(): void {}

  unsafeRange(
    bucket: Uint8Array,
    key: Uint8Array,
    endKey: Uint8Array | undefined,
    limit: number,
  ): { keys: Uint8Array[]; values: Uint8Array[] } {
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    const b = this.#buckets.get(bytesToKeyString(bucket));
    if (b === undefined) return { keys, values };
    const low = bytesToKeyString(key);
    if (endKey === undefined) {
      const found = b.get(low);
      if (found !== undefined) {
        keys.push(found[0].slice());
        values.push(found[1].slice());
      }
      return { keys, values };
    }
    const high = bytesToKeyString(endKey);
    if (high <= low) return { keys, values };
    b.forRange(low, high, false, (_k, pair) => {
      keys.push(pair[0].slice());
      values.push(pair[1].slice());
      if (limit > 0 && keys.length >= limit) return { break: true };
    });
    return { keys, values };
  }

  unsafeForEach(bucket: Uint8Array, visitor: (key: Uint8Array, value: Uint8Array) => void): void {
    const b = this.#buckets.get(bytesToKeyString(bucket));
    if (b === undefined) return;
    for (const pair of b.valuesArray()) visitor(pair[0].slice(), pair[1].slice());
  }

  unsafeForEachPart(
    bucket: Uint8Array,
    visitor: (key: Uint8Array, size: number, part: ValuePart) => void,
  ): void {
    this.unsafeForEach(bucket, (key, value) => visitor(key, value.length, wholeValuePart(value)));
  }

  #bucket(name: Uint8Array): _Bucket {
    const b = this.#buckets.get(bytesToKeyString(name));
    if (b === undefined) throw new Error(`mem backend: no bucket ${bytesToKeyString(name)}`);
    return b;
  }
}

/** An in-memory backend for tests. */
export class MemBackend implements Backend {
  readonly #buckets: Map<string, _Bucket>;
  readonly batchTx: _MemTx;
  #commits = 0;

  constructor(buckets?: Map<string, _Bucket>) {
    this.#buckets = buckets ?? new Map();
    this.batchTx = new _MemTx(this.#buckets);
  }

  readTx(): ReadTx {
    return this.batchTx;
  }
  concurrentReadTx(): ReadTx {
    return this.batchTx;
  }
  forceCommit(): void {
    this.#commits++;
  }
  commits(): number {
    return this.#commits;
  }
  size(): number {
    let bytes = 0;
    for (const b of this.#buckets.values()) {
      for (const [k, v] of b.valuesArray()) bytes += k.length + v.length;
    }
    return bytes;
  }
  sizeInUse(): number {
    return this.size();
  }
  hash(ignore?: (bucket: Uint8Array, key: Uint8Array) => boolean): number {
    let crc = 0;
    const names = [...this.#buckets.keys()].sort();
    for (const name of names) {
      const nameBytes = Uint8Array.from(name, (c) => c.charCodeAt(0));
      crc = crc32c(nameBytes, crc);
      for (const [k, v] of this.#buckets.get(name)!.valuesArray()) {
        if (ignore?.(nameBytes, k)) continue;
        crc = crc32c(k, crc);
        crc = crc32c(v, crc);
      }
    }
    return crc;
  }
  /** An independent deep copy (a "reopen" of the same data). */
  clone(): MemBackend {
    const copy = new Map<string, _Bucket>();
    for (const [name, b] of this.#buckets) copy.set(name, b.clone());
    return new MemBackend(copy);
  }
  /** Number of pairs in a bucket (tests). */
  bucketSize(name: string): number {
    return this.#buckets.get(name)?.size ?? 0;
  }
  close(): void {}
}
