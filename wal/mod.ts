/**
 * wal: etcd 3.4's write-ahead log: segments, record framing, the CRC-32C chain, cutting,
 * torn-write repair, locking, purge, and the WAL metrics.
 *
 * @module
 */

export { crc32c } from "../checksum/mod.ts";
export {
  type DecodedRecord,
  type DecoderSegment,
  fileSegment,
  type TornTail,
  WalDecoder,
} from "./decoder.ts";
export { RecordEncoder } from "./encoder.ts";
export { WalError, type WalErrorCode } from "./errors.ts";
export {
  DurationHistogram,
  type HistogramBucket,
  type HistogramSnapshot,
  WAL_FSYNC_BUCKETS,
} from "./histogram.ts";
export {
  type DurationObserver,
  goDurationString,
  walFsyncDurationSeconds,
  type WalLogger,
  walWriteBytesTotal,
} from "./metrics.ts";
export { inspectWal } from "./inspect.ts";
export { type MemberDirOptions, type MemberDirs, memberDirs } from "./layout.ts";
export { parseWalName, readWalNames, walName } from "./names.ts";
export { MAX_WALS_DEFAULT, purgeWals } from "./purge.ts";
export {
  readRecords,
  type ReadResult,
  SEGMENT_BYTES_DEFAULT,
  Wal,
  type WalContents,
  type WalOptions,
} from "./wal.ts";
export {
  decodeMetadata,
  decodeRecord,
  decodeWalSnapshot,
  encodeMetadata,
  encodeRecord,
  encodeWalSnapshot,
  RecordType,
  recordTypeName,
  type WalMetadata,
  type WalRecord,
  type WalSnapshot,
} from "./walpb.ts";
