/**
 * walpb and the WAL metadata message: byte-exact codecs matching etcd 3.4's gogoproto output.
 *
 * | message                   | fields (all varints)                          | always written |
 * |---------------------------|-----------------------------------------------|----------------|
 * | walpb.Record              | type=1 (int64) crc=2 (uint32) data=3 (bytes)  | type, crc      |
 * | walpb.Snapshot            | index=1 (uint64) term=2 (uint64)              | both           |
 * | etcdserverpb.Metadata     | NodeID=1 (uint64) ClusterID=2 (uint64)        | both           |
 *
 * `Record.data` is written only when present (gogoproto writes a nil byte slice as nothing and an
 * empty one as an empty field). The crc record carries no data.
 *
 * @module
 */

import { ProtoDecodeError, ProtoReader, ProtoWriter } from "../pb/mod.ts";

/** Record types, with etcd's values (wal/wal.go). */
export const RecordType = {
  metadata: 1,
  entry: 2,
  state: 3,
  crc: 4,
  snapshot: 5,
} as const;
/** A record type value. */
export type RecordType = typeof RecordType[keyof typeof RecordType];

const RECORD_TYPE_NAMES: Record<number, string> = {
  1: "metadata",
  2: "entry",
  3: "state",
  4: "crc",
  5: "snapshot",
};

/** The name of a record type, e.g. `entry`. */
export function recordTypeName(type: number): string {
  return RECORD_TYPE_NAMES[type] ?? `type(${type})`;
}

/** One WAL record: a type, the chained CRC-32C after its data, and the data. */
export interface WalRecord {
  type: number;
  crc: number;
  data?: Uint8Array | undefined;
}

/** The position of a raft snapshot, as recorded in the WAL. */
export interface WalSnapshot {
  index: number;
  term: number;
}

/** The metadata etcd records at the head of every WAL segment. */
export interface WalMetadata {
  nodeId: bigint;
  clusterId: bigint;
}

/** Writes a Record's fields into `w` (no length prefix). */
export function writeRecord(w: ProtoWriter, record: WalRecord): void {
  w.tag(1, 0);
  w.int64(record.type);
  w.tag(2, 0);
  w.uint32(record.crc);
  if (record.data !== undefined) {
    w.tag(3, 2);
    w.bytes(record.data);
  }
}

/** Encodes a Record as etcd does. */
export function encodeRecord(record: WalRecord): Uint8Array {
  const w = new ProtoWriter(16 + (record.data?.length ?? 0));
  writeRecord(w, record);
  return w.finish();
}

/** Decodes a Record; `data` is a view into `bytes`. */
export function decodeRecord(bytes: Uint8Array): WalRecord {
  const r = new ProtoReader(bytes);
  const record: WalRecord = { type: 0, crc: 0 };
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 0)) record.type = r.int64();
    else if (tag === ((2 << 3) | 0)) record.crc = r.uint32();
    else if (tag === ((3 << 3) | 2)) record.data = r.bytes();
    else if ((tag >>> 3) === 0) throw new ProtoDecodeError(`walpb: illegal tag ${tag}`);
    else r.skip(tag & 7);
  }
  return record;
}

/** Encodes a walpb.Snapshot as etcd does. */
export function encodeWalSnapshot(snapshot: WalSnapshot): Uint8Array {
  const w = new ProtoWriter(24);
  w.tag(1, 0);
  w.uint64(snapshot.index);
  w.tag(2, 0);
  w.uint64(snapshot.term);
  return w.finish();
}

/** Decodes a walpb.Snapshot. */
export function decodeWalSnapshot(bytes: Uint8Array): WalSnapshot {
  const r = new ProtoReader(bytes);
  const snapshot: WalSnapshot = { index: 0, term: 0 };
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 0)) snapshot.index = r.uint64();
    else if (tag === ((2 << 3) | 0)) snapshot.term = r.uint64();
    else if ((tag >>> 3) === 0) throw new ProtoDecodeError(`walpb: illegal tag ${tag}`);
    else r.skip(tag & 7);
  }
  return snapshot;
}

/** Encodes etcdserverpb.Metadata{NodeID, ClusterID} as etcd does. */
export function encodeMetadata(metadata: WalMetadata): Uint8Array {
  const w = new ProtoWriter(24);
  w.tag(1, 0);
  w.uint64Big(metadata.nodeId);
  w.tag(2, 0);
  w.uint64Big(metadata.clusterId);
  return w.finish();
}

/** Decodes etcdserverpb.Metadata{NodeID, ClusterID}. */
export function decodeMetadata(bytes: Uint8Array): WalMetadata {
  const r = new ProtoReader(bytes);
  const metadata: WalMetadata = { nodeId: 0n, clusterId: 0n };
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 0)) metadata.nodeId = r.uint64Big();
    else if (tag === ((2 << 3) | 0)) metadata.clusterId = r.uint64Big();
    else if ((tag >>> 3) === 0) throw new ProtoDecodeError(`etcdserverpb: illegal tag ${tag}`);
    else r.skip(tag & 7);
  }
  return metadata;
}
