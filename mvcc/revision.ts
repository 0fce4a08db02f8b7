/**
 * Revisions and their on-disk form in the `key` bucket.
 *
 * A revision is a pair {main, sub}: `main` counts atomic changes to the key space (one per write
 * transaction), `sub` orders the changes inside one transaction. The bucket key is, as in etcd's
 * `mvcc/revision.go` and `kvstore.go`:
 *
 * | offset | size | field                                   |
 * |--------|------|-----------------------------------------|
 * | 0      | 8    | main, unsigned big-endian               |
 * | 8      | 1    | '_' (0x5f)                              |
 * | 9      | 8    | sub, unsigned big-endian                |
 * | 17     | 1    | 't' (0x74), present only on a tombstone |
 *
 * Big-endian makes the byte order of keys the order of revisions, so a bolt cursor walks history
 * in time order.
 *
 * @module
 */

/** A point in the history of the key space. Both parts are non-negative integers below 2^53. */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** Length of a revision key without a mark (etcd `revBytesLen`). */
export const REVISION_BYTES = 17;
/** Length of a revision key with a mark (etcd `markedRevBytesLen`). */
export const MARKED_REVISION_BYTES = 18;
/** Offset of the mark byte (etcd `markBytePosition`). */
export const MARK_OFFSET = 17;
/** The mark that flags a tombstone (etcd `markTombstone`). */
export const MARK_TOMBSTONE = 0x74; // 't'

const _MAIN_OFFSET = 0;
const _SEPARATOR_OFFSET = 8;
const _SUB_OFFSET = 9;
const _SEPARATOR = 0x5f; // '_'

/** Throws unless `value` is an integer that a JS number holds exactly and int64 can hold. */
export function assertRevisionNumber(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${what} ${value} is not a safe integer`);
  }
}

/** True when `a` is strictly later than `b`. */
export function revisionGreater(a: Revision, b: Revision): boolean {
  if (a.main !== b.main) return a.main > b.main;
  return a.sub > b.sub;
}

/** Orders revisions for sorting: negative when `a` is earlier than `b`. */
export function compareRevisions(a: Revision, b: Revision): number {
  if (a.main !== b.main) return a.main - b.main;
  return a.sub - b.sub;
}

/** Writes the 17-byte key of `rev` into `target` (which may be 17 or 18 bytes long). */
export function writeRevisionBytes(rev: Revision, target: Uint8Array): void {
  if (target.length < REVISION_BYTES) throw new RangeError("revision buffer too short");
  if (rev.main < 0 || rev.sub < 0) throw new RangeError("negative revision");
  _writeUint64(target, _MAIN_OFFSET, rev.main);
  target[_SEPARATOR_OFFSET] = _SEPARATOR;
  _writeUint64(target, _SUB_OFFSET, rev.sub);
}

const _TWO_32 = 4294967296;

/** Big-endian uint64 from a safe integer, without BigInt (this is on every write path). */
function _writeUint64(target: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / _TWO_32);
  const low = value >>> 0;
  target[offset] = high >>> 24;
  target[offset + 1] = (high >>> 16) & 0xff;
  target[offset + 2] = (high >>> 8) & 0xff;
  target[offset + 3] = high & 0xff;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = (low >>> 16) & 0xff;
  target[offset + 6] = (low >>> 8) & 0xff;
  target[offset + 7] = low & 0xff;
}

/** Reads a big-endian uint64 that must be a safe integer. */
function _readUint64(bytes: Uint8Array, offset: number): number {
  const high = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!) >>> 0;
  const low = ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) |
    bytes[offset + 7]!) >>> 0;
  if (high >= 0x200000) throw new RangeError("revision does not fit a safe integer");
  return high * _TWO_32 + low;
}

/** Returns the 17-byte key of `rev`, or the 18-byte tombstone key when `tombstone` is set. */
export function revisionToBytes(rev: Revision, tombstone = false): Uint8Array {
  const bytes = new Uint8Array(tombstone ? MARKED_REVISION_BYTES : REVISION_BYTES);
  writeRevisionBytes(rev, bytes);
  if (tombstone) bytes[MARK_OFFSET] = MARK_TOMBSTONE;
  return bytes;
}

/** Reads the revision from a 17- or 18-byte bucket key. */
export function bytesToRevision(bytes: Uint8Array): Revision {
  if (bytes.length !== REVISION_BYTES && bytes.length !== MARKED_REVISION_BYTES) {
    throw new RangeError(`revision key has ${bytes.length} bytes, want 17 or 18`);
  }
  return { main: _readUint64(bytes, _MAIN_OFFSET), sub: _readUint64(bytes, _SUB_OFFSET) };
}

/** True when the bucket key marks a tombstone (etcd `isTombstone`). */
export function isTombstoneKey(bytes: Uint8Array): boolean {
  return bytes.length === MARKED_REVISION_BYTES && bytes[MARK_OFFSET] === MARK_TOMBSTONE;
}

/** A stable map key for a revision (exact for both parts below 2^53). */
export function revisionId(rev: Revision): string {
  return `${rev.main}_${rev.sub}`;
}
