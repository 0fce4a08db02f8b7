/**
 * The storage engine: a bolt-format (bbolt 1.3) B+tree page file with two free-page sets, and
 * etcd's batched backend on top of it.
 *
 * @module
 */

export {
  type Backend,
  type BackendOptions,
  type BackendSnapshot,
  type BatchTx,
  type BoltBackend,
  type DefragProgress,
  openBackend,
  type ReadTx,
  type ValuePart,
  wholeValuePart,
} from "./backend.ts";
export {
  type BackendLogger,
  humanBytes,
  openReadTransactions,
  snapshotWarningMs,
  spanClassCounts,
} from "./metrics.ts";
export { DB, type DBOptions, type DBStats } from "./db.ts";
export { Tx, type TxStats } from "./tx.ts";
export { Bucket, type BucketStats, DEFAULT_FILL_PERCENT } from "./bucket.ts";
export { Cursor } from "./cursor.ts";
export { checkTx } from "./check.ts";
export { BoltError } from "./errors.ts";
export type { FreelistType, FreeSpans } from "./free_spans.ts";
export { Freelist, newFreeSpans } from "./freelist.ts";
export { HashmapFreeSpans } from "./freelist_hashmap.ts";
export { ArrayFreeSpans } from "./freelist_array.ts";
export { crc32c } from "../checksum/mod.ts";
export { inspectDb, type PageReport, pageReport } from "./inspect.ts";

import type { DB } from "./db.ts";
import { checkTx } from "./check.ts";

/** Checks the last committed state of `db` (tree shape and page accounting). */
export function check(db: DB): string[] {
  return db.view((tx) => checkTx(tx));
}
