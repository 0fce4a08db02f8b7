/**
 * Encoding a protobufjs message into one exact-size plain `Uint8Array`, through one reused
 * writer.
 *
 * Why: `Type.encode(message).finish()` makes a new writer per message; under Deno's Node
 * compatibility that is a `BufferWriter`, which starts with 128 bytes, doubles as it goes and
 * copies the result once more, each step a `Buffer.allocUnsafe` from node's 8 KiB pool (a new
 * pool every few messages). At 1000 concurrent puts the proposal's encoding alone spent 2% of
 * a member's samples in `createPool` (docs/performance.md). One long-lived plain `Writer`
 * keeps its grown buffer; a message then costs one copy into a view of a shared slab, with
 * room in front for a caller's prefix (gRPC's 5 bytes) so that framing needs no second copy.
 *
 * Encoding is synchronous and does not call back into the caller, so one writer per thread
 * is safe; it is reset before every use, also after an encoder threw midway.
 *
 * @module
 */

import $protobuf from "protobufjs/minimal.js";

/** What a generated protobufjs type offers for encoding. */
export interface EncodableType<Properties> {
  encode(message: Properties, writer?: $protobuf.Writer): $protobuf.Writer;
}

/** A writer whose buffer grew past this is dropped after use, so one huge message is not kept. */
const WRITER_BUFFER_BYTES_MAX = 1 << 20;
/** Results are carved from slabs of this size; larger ones get an array of their own. */
const SLAB_BYTES = 64 * 1024;
const OWN_ARRAY_BYTES_MIN = SLAB_BYTES / 8;

let _writer = new $protobuf.Writer();
let _slab = new Uint8Array(SLAB_BYTES);
let _slabUsedBytes = 0;

/**
 * `bytes` zeroed bytes from the current slab. V8 gives every typed array above 64 bytes a
 * backing store of its own (an allocation outside the heap, zero-filled and counted as
 * external memory); a view into a shared slab is an ordinary small heap object. A slab is
 * freed when the last message carved from it is: these messages are short-lived (copied into
 * the raft log's arena or into an HTTP/2 output buffer).
 */
export function carveBytes(bytes: number): Uint8Array {
  if (bytes >= OWN_ARRAY_BYTES_MIN) return new Uint8Array(bytes);
  if (_slabUsedBytes + bytes > SLAB_BYTES) {
    _slab = new Uint8Array(SLAB_BYTES);
    _slabUsedBytes = 0;
  }
  const out = _slab.subarray(_slabUsedBytes, _slabUsedBytes + bytes);
  _slabUsedBytes += bytes;
  return out;
}

/**
 * `message` in protobuf's wire form, preceded by `prefixBytes` zero bytes for the caller to
 * fill; the result is exactly `prefixBytes` + the message's length, a view that may share its
 * ArrayBuffer with other results (never with live data of anyone else).
 */
export function encodeMessage<Properties>(
  type: EncodableType<Properties>,
  message: Properties,
  prefixBytes = 0,
): Uint8Array {
  if (!(prefixBytes >= 0)) throw new RangeError(`encodeMessage: bad prefix ${prefixBytes}`);
  const writer = _writer;
  writer.pos = 0;
  writer.states = null;
  type.encode(message, writer);
  // (Read through a cast: the assignment above narrowed the field's type to null.)
  const open = writer.states as number[] | null;
  if (open !== null && open.length !== 0) {
    throw new Error("encodeMessage: the encoder left a length prefix open");
  }
  const out = carveBytes(prefixBytes + writer.pos);
  writer.finishInto(out, prefixBytes);
  if (writer.buf.length > WRITER_BUFFER_BYTES_MAX) _writer = new $protobuf.Writer();
  return out;
}
