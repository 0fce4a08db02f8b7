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

/**
 * Throws unless `condition` holds: an always-on check of an invariant the WAL relies on. A
 * failure is a bug (or a disk returning what was not written), never an expected condition, so
 * it is a plain Error: inside an append it poisons the WAL like any other write failure.
 */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new Error(
      "wal: assertion failed: " + (typeof message === "string" ? message : message()),
    );
  }
}
