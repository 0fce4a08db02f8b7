/**
 * A growable byte buffer for encoders that append into one reused allocation (the protobuf
 * writer, the WAL record framer): the writer asks for room with `ensure()`, then writes at
 * `length` through `bytes` or `view` and advances `length` itself, so the hot path is plain
 * indexed stores with no call per byte.
 *
 * @module
 */

/**
 * Bytes `[0, length)` of `bytes` are written. Growing replaces `bytes` and `view` (doubling, so
 * appends cost amortised O(1)); hold neither across an `ensure()`.
 */
export class GrowableBuffer {
  /** The backing store; only `[0, length)` is meaningful. */
  bytes: Uint8Array;
  /** A little- or big-endian view over `bytes` (the caller names the byte order). */
  view: DataView;
  /** The number of bytes written. */
  length = 0;

  constructor(initialBytes: number) {
    if (!(Number.isInteger(initialBytes) && initialBytes > 0)) {
      throw new RangeError(
        `growable buffer: initial size ${initialBytes} is not a positive integer`,
      );
    }
    this.bytes = new Uint8Array(initialBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Makes room for `extraBytes` more bytes after `length`, keeping what was written. */
  ensure(extraBytes: number): void {
    const need = this.length + extraBytes;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  /** Forgets what was written, keeping the allocation. */
  reset(): void {
    this.length = 0;
  }
}
