/**
 * snap: etcd 3.4's `.snap` files (raft snapshots in a CRC-checked envelope) and the db
 * snapshot files a follower receives (`%016x.snap.db`).
 *
 * @module
 */

export { inspectSnap } from "./inspect.ts";
export { MAX_SNAPSHOTS_DEFAULT, purgeSnaps } from "./purge.ts";
export {
  decodeSnapFile,
  encodeSnapFile,
  parseSnapName,
  readSnapFile,
  SnapError,
  type SnapErrorCode,
  snapName,
  type SnapPosition,
  Snapshotter,
  type SnapshotterOptions,
} from "./snapshotter.ts";
export { decodeSnapEnvelope, encodeSnapEnvelope, type SnapEnvelope } from "./snappb.ts";
