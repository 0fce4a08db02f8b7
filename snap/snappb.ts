/**
 * snappb.Snapshot, the envelope of a `.snap` file, byte-exact with etcd 3.4's gogoproto output.
 *
 * | field      | number | wire   | always written                         |
 * |------------|--------|--------|----------------------------------------|
 * | crc uint32 | 1      | varint | yes                                    |
 * | data bytes | 2      | bytes  | when present (a marshalled raftpb.Snapshot) |
 *
 * `crc` is CRC-32C of `data` from 0.
 *
 * @module
 */

import { ProtoDecodeError, ProtoReader, ProtoWriter } from "../pb/mod.ts";

/** The envelope of a snap file. */
export interface SnapEnvelope {
  crc: number;
  data?: Uint8Array | undefined;
}

/** Encodes a snappb.Snapshot as etcd does. */
export function encodeSnapEnvelope(envelope: SnapEnvelope): Uint8Array {
  const w = new ProtoWriter(16 + (envelope.data?.length ?? 0));
  w.tag(1, 0);
  w.uint32(envelope.crc);
  if (envelope.data !== undefined) {
    w.tag(2, 2);
    w.bytes(envelope.data);
  }
  return w.finish();
}

/** Decodes a snappb.Snapshot; `data` is a view into `bytes`. */
export function decodeSnapEnvelope(bytes: Uint8Array): SnapEnvelope {
  const r = new ProtoReader(bytes);
  const envelope: SnapEnvelope = { crc: 0 };
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 0)) envelope.crc = r.uint32();
    else if (tag === ((2 << 3) | 2)) envelope.data = r.bytes();
    else if ((tag >>> 3) === 0) throw new ProtoDecodeError(`snappb: illegal tag ${tag}`);
    else r.skip(tag & 7);
  }
  return envelope;
}
