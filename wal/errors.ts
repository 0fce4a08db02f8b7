/**
 * The WAL's errors. Messages begin with etcd's own error strings (wal/wal.go) so an operator who
 * knows etcd recognises them; `code` is for programs.
 *
 * @module
 */

/** What went wrong, for callers that branch on it. */
export type WalErrorCode =
  | "exists"
  | "file-not-found"
  | "locked"
  | "crc-mismatch"
  | "corrupt"
  | "entry-too-large"
  | "metadata-conflict"
  | "snapshot-mismatch"
  | "snapshot-not-found"
  | "slice-out-of-range"
  | "unexpected-record-type"
  | "closed";

/** An error from the WAL, with a stable code. */
export class WalError extends Error {
  constructor(readonly code: WalErrorCode, message: string) {
    super(message);
    this.name = "WalError";
  }
}
