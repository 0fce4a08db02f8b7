/**
 * Protocol buffers wire primitives for the hand-written codecs of the durable and consensus
 * formats (raftpb, walpb, snappb). See `wire.ts`.
 *
 * @module
 */

export {
  ProtoDecodeError,
  ProtoReader,
  ProtoWriter,
  varintSize,
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_VARINT,
} from "./wire.ts";
