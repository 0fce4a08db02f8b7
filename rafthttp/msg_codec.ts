/**
 * The "message" stream framing (etcd rafthttp msg_codec.go): every raftpb.Message is written as
 *
 * | offset | size | field                                  |
 * |--------|------|----------------------------------------|
 * | 0      | 8    | length of the encoded message, uint64 big-endian |
 * | 8      | n    | the message, protobuf (gogoproto layout)          |
 *
 * The same framing carries the MsgSnap header at the front of a `/raft/snapshot` body.
 *
 * @module
 */

import { decodeMessage, encodeMessage, type Message } from "../raft/mod.ts";
import type { ByteQueue } from "./byte_queue.ts";

/** Bytes of the length prefix. */
export const FRAME_LENGTH_BYTES = 8;
/** The largest message etcd reads from a stream (512 MiB, msg_codec.go readBytesLimit). */
export const MESSAGE_BYTES_MAX = 512 * 1024 * 1024;

/** Raised when a frame is malformed or larger than allowed (etcd's ErrExceedSizeLimit). */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Encodes one message as a length-prefixed frame. */
export function encodeMessageFrame(message: Message): Uint8Array {
  const body = encodeMessage(message);
  const frame = new Uint8Array(FRAME_LENGTH_BYTES + body.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, Math.floor(body.length / 2 ** 32), false);
  view.setUint32(4, body.length >>> 0, false);
  frame.set(body, FRAME_LENGTH_BYTES);
  return frame;
}

/**
 * Decodes the next whole frame from `queue`, or returns `undefined` (consuming nothing) when the
 * frame is not fully buffered yet.
 */
export function decodeMessageFrame(
  queue: ByteQueue,
  messageBytesMax: number = MESSAGE_BYTES_MAX,
): Message | undefined {
  if (queue.length < FRAME_LENGTH_BYTES) return undefined;
  // The length as a number (no BigInt per frame); the exact value only in the error.
  const bodyBytes = queue.peekUint64Number(0);
  if (bodyBytes > messageBytesMax) {
    throw new FrameError(
      `rafthttp: error limit exceeded (frame of ${queue.peekUint64(0)} bytes)`,
    );
  }
  if (queue.length < FRAME_LENGTH_BYTES + bodyBytes) return undefined;
  queue.take(FRAME_LENGTH_BYTES);
  return decodeMessage(queue.take(bodyBytes));
}
