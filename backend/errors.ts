/**
 * Errors of the bolt page file. The messages of the bbolt 1.3 errors are kept word for word
 * (`bbolt/errors.go`), so that an operator who knows etcd recognises them; file errors add the
 * path and the problem.
 */

/** An error raised by the bolt page file layer. */
export class BoltError extends Error {
  /** Creates an error with the given message. */
  constructor(message: string) {
    super(message);
    this.name = "BoltError";
  }
}

/** Both meta pages are unusable, or the file is not a bolt file. */
export const ERR_INVALID = "invalid database";
/** A meta page has a version other than 2. */
export const ERR_VERSION_MISMATCH = "version mismatch";
/** A meta page's FNV-1a checksum does not match its contents. */
export const ERR_CHECKSUM = "checksum error";
/** The transaction was already committed or rolled back. */
export const ERR_TX_CLOSED = "tx closed";
/** A write was attempted on a read-only transaction. */
export const ERR_TX_NOT_WRITABLE = "tx not writable";
/** The named bucket does not exist. */
export const ERR_BUCKET_NOT_FOUND = "bucket not found";
/** The bucket to create exists already. */
export const ERR_BUCKET_EXISTS = "bucket already exists";
/** A bucket name of zero bytes was given. */
export const ERR_BUCKET_NAME_REQUIRED = "bucket name required";
/** A key of zero bytes was given. */
export const ERR_KEY_REQUIRED = "key required";
/** A key longer than MAX_KEY_SIZE was given. */
export const ERR_KEY_TOO_LARGE = "key too large";
/** A value longer than MAX_VALUE_SIZE was given. */
export const ERR_VALUE_TOO_LARGE = "value too large";
/** A bucket operation met a plain value, or a value operation met a bucket. */
export const ERR_INCOMPATIBLE_VALUE = "incompatible value";
/** The database was closed. */
export const ERR_DATABASE_NOT_OPEN = "database not open";

/** Throws a BoltError with `message` unless `condition` holds (an always-on invariant check). */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new BoltError(
      "assertion failed: " + (typeof message === "string" ? message : message()),
    );
  }
}
