/**
 * The part of `backend/`'s public surface that `mvcc/` and `lease/` use, declared structurally
 * so that these modules compile and test on their own (an in-memory backend in tests, the bolt
 * backend in the server). The shapes are those fixed for `backend/mod.ts`.
 *
 * @module
 */

/** Reads over buckets. Keys and values compare and return as bytes. */
export interface ReadTx {
  /**
   * Keys and values of `bucket` from `key` up to (not including) `endKey`, at most `limit`
   * pairs (`limit <= 0`: all). With `endKey` undefined only `key` itself is looked up.
   */
  unsafeRange(
    bucket: Uint8Array,
    key: Uint8Array,
    endKey: Uint8Array | undefined,
    limit: number,
  ): { keys: Uint8Array[]; values: Uint8Array[] };
  /** Calls `visitor` for every pair of `bucket` in key order. */
  unsafeForEach(bucket: Uint8Array, visitor: (key: Uint8Array, value: Uint8Array) => void): void;
}

/** The batched write transaction; committed by the backend every interval or batch limit. */
export interface BatchTx extends ReadTx {
  lock(): void;
  unlock(): void;
  unsafeCreateBucket(name: Uint8Array): void;
  unsafeDeleteBucket(name: Uint8Array): void;
  unsafePut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void;
  /** A put whose keys arrive in ascending order (pages fill completely). */
  unsafeSeqPut(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void;
  unsafeDelete(bucket: Uint8Array, key: Uint8Array): void;
  commit(): void;
}

/** The storage under the key-value store. */
export interface Backend {
  readonly batchTx: BatchTx;
  readTx(): ReadTx;
  concurrentReadTx(): ReadTx;
  forceCommit(): void;
  size(): number;
  sizeInUse(): number;
  hash(ignore?: (bucket: Uint8Array, key: Uint8Array) => boolean): number;
}
