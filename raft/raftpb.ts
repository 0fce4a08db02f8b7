/**
 * raftpb: etcd 3.4's raft wire types and their byte-exact protobuf codec.
 *
 * etcd generates these with gogoproto from a proto2 file in which almost every scalar is
 * `nullable = false`: such fields are always written, zero or not, in field-number order, and
 * repeated uint64 fields are not packed. Optional byte fields (`Data`, `Context`, snapshot data)
 * are written only when non-nil, so "absent" and "empty" differ on the wire; here `undefined`
 * is nil and an empty array is an empty value.
 *
 * Field numbers (raft/raftpb/raft.proto):
 * | message          | fields                                                                 |
 * |------------------|------------------------------------------------------------------------|
 * | Entry            | Type=1 Term=2 Index=3 Data=4                                           |
 * | SnapshotMetadata | conf_state=1 index=2 term=3                                            |
 * | Snapshot         | data=1 metadata=2                                                      |
 * | Message          | type=1 to=2 from=3 term=4 logTerm=5 index=6 entries=7 commit=8        |
 * |                  | snapshot=9 reject=10 rejectHint=11 context=12                          |
 * | HardState        | term=1 vote=2 commit=3                                                 |
 * | ConfState        | voters=1 learners=2 voters_outgoing=3 learners_next=4 auto_leave=5     |
 * | ConfChange       | ID=1 Type=2 NodeID=3 Context=4                                         |
 *
 * Terms and indexes are JS numbers (asserted below 2^53 on decode); node IDs are bigint because
 * etcd member IDs are random 64-bit values.
 *
 * @module
 */

import { ProtoDecodeError, ProtoReader, ProtoWriter } from "../pb/mod.ts";

/** Entry types. */
export const EntryType = {
  EntryNormal: 0,
  EntryConfChange: 1,
  EntryConfChangeV2: 2,
} as const;
/** An entry type value. */
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** Message types, with etcd's enum values. */
export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
} as const;
/** A message type value. */
export type MessageType = typeof MessageType[keyof typeof MessageType];

const MESSAGE_TYPE_NAMES: string[] = Object.keys(MessageType);

/** The name of a message type, e.g. `MsgApp`. */
export function messageTypeName(type: number): string {
  return MESSAGE_TYPE_NAMES[type] ?? `MsgType(${type})`;
}

/** Configuration change types. */
export const ConfChangeType = {
  ConfChangeAddNode: 0,
  ConfChangeRemoveNode: 1,
  ConfChangeUpdateNode: 2,
  ConfChangeAddLearnerNode: 3,
} as const;
/** A configuration change type value. */
export type ConfChangeType = typeof ConfChangeType[keyof typeof ConfChangeType];

/** One raft log entry. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** `undefined` is nil (not written); an empty array is written as an empty field. */
  data?: Uint8Array | undefined;
}

/** The voters and learners of a configuration. */
export interface ConfState {
  voters: bigint[];
  learners: bigint[];
  votersOutgoing: bigint[];
  learnersNext: bigint[];
  autoLeave: boolean;
}

/** Snapshot metadata: the configuration and the last index and term it covers. */
export interface SnapshotMetadata {
  confState: ConfState;
  index: number;
  term: number;
}

/** A raft snapshot: application data plus metadata. */
export interface Snapshot {
  data?: Uint8Array | undefined;
  metadata: SnapshotMetadata;
}

/** The durable state of a node. */
export interface HardState {
  term: number;
  vote: bigint;
  commit: number;
}

/** A raft message between nodes (or from the driver to its own node). */
export interface Message {
  type: MessageType;
  to: bigint;
  from: bigint;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  /** Always present on the wire; `undefined` here stands for the empty snapshot. */
  snapshot?: Snapshot | undefined;
  reject: boolean;
  rejectHint: number;
  context?: Uint8Array | undefined;
}

/** A single-step configuration change (what etcd 3.4 proposes). */
export interface ConfChange {
  id: bigint;
  type: ConfChangeType;
  nodeId: bigint;
  context?: Uint8Array | undefined;
}

/** A new empty ConfState. */
export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** A new empty Snapshot (index 0, term 0). */
export function emptySnapshot(): Snapshot {
  return { metadata: { confState: emptyConfState(), index: 0, term: 0 } };
}

/** True when the snapshot is the empty one (index 0). */
export function isEmptySnapshot(snapshot: Snapshot | undefined): boolean {
  return snapshot === undefined || snapshot.metadata.index === 0;
}

/** The zero HardState. */
export function emptyHardState(): HardState {
  return { term: 0, vote: 0n, commit: 0 };
}

/** True when the hard state is the zero value. */
export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0n && hs.commit === 0;
}

/** A message with every field at its zero value except those given. */
export function newMessage(fields: Partial<Message> & { type: MessageType }): Message {
  // The given fields are copied onto a message that already has every field, so the result has
  // the zero message's hidden class whatever `fields` holds. Spreading `fields` over defaults
  // appended `type`, `snapshot` and `context` in each caller's order, so the raft core's reads
  // of messages went polymorphic; reading `fields.x` for each field instead made those twelve
  // reads megamorphic, as every caller's literal has a shape of its own (docs/performance.md,
  // "V8 tiers, deopts and inline caches on the put path, round 8").
  return Object.assign(_zeroMessage(), fields);
}

/** A MsgHup with every field at its zero value: all twelve, in the declaration order. */
function _zeroMessage(): Message {
  return {
    type: MessageType.MsgHup,
    to: 0n,
    from: 0n,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

const shared = new ProtoWriter(1024);

function encodeWith(write: (w: ProtoWriter) => void): Uint8Array {
  shared.reset();
  write(shared);
  return shared.finish();
}

/** Writes an Entry's fields (without a length prefix). */
export function writeEntry(w: ProtoWriter, e: Entry): void {
  _writeEntryHead(w, e);
  if (e.data !== undefined) w.raw(e.data);
}

/** An Entry's fields up to its Data bytes: Type, Term, Index, and Data's key and length. */
function _writeEntryHead(w: ProtoWriter, e: Entry): void {
  w.tag(1, 0);
  w.uint32(e.type);
  w.tag(2, 0);
  w.uint64(e.term);
  w.tag(3, 0);
  w.uint64(e.index);
  if (e.data !== undefined) {
    w.tag(4, 2);
    w.uint32(e.data.length);
  }
}

function writeConfState(w: ProtoWriter, cs: ConfState): void {
  for (const id of cs.voters) {
    w.tag(1, 0);
    w.uint64Big(id);
  }
  for (const id of cs.learners) {
    w.tag(2, 0);
    w.uint64Big(id);
  }
  for (const id of cs.votersOutgoing) {
    w.tag(3, 0);
    w.uint64Big(id);
  }
  for (const id of cs.learnersNext) {
    w.tag(4, 0);
    w.uint64Big(id);
  }
  w.tag(5, 0);
  w.bool(cs.autoLeave);
}

function writeSnapshotMetadata(w: ProtoWriter, md: SnapshotMetadata): void {
  w.tag(1, 2);
  w.message((m) => writeConfState(m, md.confState));
  w.tag(2, 0);
  w.uint64(md.index);
  w.tag(3, 0);
  w.uint64(md.term);
}

/** Writes a Snapshot's fields (without a length prefix). */
export function writeSnapshot(w: ProtoWriter, s: Snapshot): void {
  if (s.data !== undefined) {
    w.tag(1, 2);
    w.bytes(s.data);
  }
  w.tag(2, 2);
  w.message((m) => writeSnapshotMetadata(m, s.metadata));
}

/** Writes a Message's fields (without a length prefix). */
export function writeMessage(w: ProtoWriter, m: Message): void {
  w.tag(1, 0);
  w.uint32(m.type);
  w.tag(2, 0);
  w.uint64Big(m.to);
  w.tag(3, 0);
  w.uint64Big(m.from);
  w.tag(4, 0);
  w.uint64(m.term);
  w.tag(5, 0);
  w.uint64(m.logTerm);
  w.tag(6, 0);
  w.uint64(m.index);
  for (const e of m.entries) {
    w.tag(7, 2);
    w.message((x) => writeEntry(x, e));
  }
  w.tag(8, 0);
  w.uint64(m.commit);
  w.tag(9, 2);
  const snapshot = m.snapshot ?? EMPTY_SNAPSHOT;
  w.message((x) => writeSnapshot(x, snapshot));
  w.tag(10, 0);
  w.bool(m.reject);
  w.tag(11, 0);
  w.uint64(m.rejectHint);
  if (m.context !== undefined) {
    w.tag(12, 2);
    w.bytes(m.context);
  }
}

const EMPTY_SNAPSHOT: Snapshot = emptySnapshot();

/** Encodes an Entry as etcd does. */
export function encodeEntry(e: Entry): Uint8Array {
  return encodeWith((w) => writeEntry(w, e));
}

/**
 * An Entry's encoding less its Data bytes: `encodeEntry(e)` is these bytes followed by `e.data`.
 * A framer that appends the two parts copies the data once, where `encodeEntry` copies it twice.
 * Not copied: the view is valid only until the next encode of this module.
 */
export function encodeEntryHead(e: Entry): Uint8Array {
  shared.reset();
  _writeEntryHead(shared, e);
  return shared.view();
}

/** Encodes a HardState as etcd does. */
export function encodeHardState(hs: HardState): Uint8Array {
  shared.reset();
  _writeHardState(shared, hs);
  return shared.finish();
}

/** `encodeHardState`'s bytes, not copied: valid only until the next encode of this module. */
export function encodeHardStateView(hs: HardState): Uint8Array {
  shared.reset();
  _writeHardState(shared, hs);
  return shared.view();
}

function _writeHardState(w: ProtoWriter, hs: HardState): void {
  w.tag(1, 0);
  w.uint64(hs.term);
  w.tag(2, 0);
  w.uint64Big(hs.vote);
  w.tag(3, 0);
  w.uint64(hs.commit);
}

/** Encodes a ConfState as etcd does. */
export function encodeConfState(cs: ConfState): Uint8Array {
  return encodeWith((w) => writeConfState(w, cs));
}

/** Encodes a Snapshot as etcd does. */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  return encodeWith((w) => writeSnapshot(w, s));
}

/** Encodes a Message as etcd does. */
export function encodeMessage(m: Message): Uint8Array {
  return encodeWith((w) => writeMessage(w, m));
}

/** Encodes a ConfChange as etcd does. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encodeWith((w) => {
    w.tag(1, 0);
    w.uint64Big(cc.id);
    w.tag(2, 0);
    w.uint32(cc.type);
    w.tag(3, 0);
    w.uint64Big(cc.nodeId);
    if (cc.context !== undefined) {
      w.tag(4, 2);
      w.bytes(cc.context);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Decoding. Byte fields are views into the input; copy them if the input buffer is reused.

function readIds(r: ProtoReader, wireType: number, into: bigint[]): void {
  if (wireType === 2) {
    // Packed encoding: accepted on input although etcd does not write it.
    const packed = r.sub();
    while (packed.more()) into.push(packed.uint64Big());
  } else {
    into.push(r.uint64Big());
  }
}

function readEnum<T extends number>(r: ProtoReader): T {
  return r.uint32() as T;
}

/** Reads an Entry from a reader positioned on its fields. */
export function readEntry(r: ProtoReader): Entry {
  // `data` present even when nil, so that every entry has one hidden class (see newMessage).
  const e: Entry = { term: 0, index: 0, type: EntryType.EntryNormal, data: undefined };
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | 0:
        e.type = readEnum<EntryType>(r);
        break;
      case (2 << 3) | 0:
        e.term = r.uint64();
        break;
      case (3 << 3) | 0:
        e.index = r.uint64();
        break;
      case (4 << 3) | 2:
        e.data = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return e;
}

function readConfState(r: ProtoReader): ConfState {
  const cs = emptyConfState();
  while (r.more()) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 1) readIds(r, wireType, cs.voters);
    else if (field === 2) readIds(r, wireType, cs.learners);
    else if (field === 3) readIds(r, wireType, cs.votersOutgoing);
    else if (field === 4) readIds(r, wireType, cs.learnersNext);
    else if (tag === ((5 << 3) | 0)) cs.autoLeave = r.bool();
    else r.skip(wireType);
  }
  return cs;
}

function readSnapshotMetadata(r: ProtoReader): SnapshotMetadata {
  const md: SnapshotMetadata = { confState: emptyConfState(), index: 0, term: 0 };
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 2)) md.confState = readConfState(r.sub());
    else if (tag === ((2 << 3) | 0)) md.index = r.uint64();
    else if (tag === ((3 << 3) | 0)) md.term = r.uint64();
    else r.skip(tag & 7);
  }
  return md;
}

/** Reads a Snapshot from a reader positioned on its fields. */
export function readSnapshot(r: ProtoReader): Snapshot {
  const s = emptySnapshot();
  while (r.more()) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 2)) s.data = r.bytes();
    else if (tag === ((2 << 3) | 2)) s.metadata = readSnapshotMetadata(r.sub());
    else r.skip(tag & 7);
  }
  return s;
}

/** Reads a Message from a reader positioned on its fields. */
export function readMessage(r: ProtoReader): Message {
  const m = _zeroMessage();
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | 0:
        m.type = readEnum<MessageType>(r);
        break;
      case (2 << 3) | 0:
        m.to = r.uint64Big();
        break;
      case (3 << 3) | 0:
        m.from = r.uint64Big();
        break;
      case (4 << 3) | 0:
        m.term = r.uint64();
        break;
      case (5 << 3) | 0:
        m.logTerm = r.uint64();
        break;
      case (6 << 3) | 0:
        m.index = r.uint64();
        break;
      case (7 << 3) | 2:
        m.entries.push(readEntry(r.sub()));
        break;
      case (8 << 3) | 0:
        m.commit = r.uint64();
        break;
      case (9 << 3) | 2:
        m.snapshot = readSnapshot(r.sub());
        break;
      case (10 << 3) | 0:
        m.reject = r.bool();
        break;
      case (11 << 3) | 0:
        m.rejectHint = r.uint64();
        break;
      case (12 << 3) | 2:
        m.context = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return m;
}

function whole<T>(bytes: Uint8Array, what: string, read: (r: ProtoReader) => T): T {
  try {
    return read(new ProtoReader(bytes));
  } catch (err) {
    if (err instanceof ProtoDecodeError) {
      throw new ProtoDecodeError(`raftpb: cannot decode ${what}: ${err.message}`);
    }
    throw err;
  }
}

/** Decodes an Entry. */
export function decodeEntry(bytes: Uint8Array): Entry {
  return whole(bytes, "Entry", readEntry);
}

/** Decodes a HardState. */
export function decodeHardState(bytes: Uint8Array): HardState {
  return whole(bytes, "HardState", (r) => {
    const hs = emptyHardState();
    while (r.more()) {
      const tag = r.tag();
      if (tag === ((1 << 3) | 0)) hs.term = r.uint64();
      else if (tag === ((2 << 3) | 0)) hs.vote = r.uint64Big();
      else if (tag === ((3 << 3) | 0)) hs.commit = r.uint64();
      else r.skip(tag & 7);
    }
    return hs;
  });
}

/** Decodes a ConfState. */
export function decodeConfState(bytes: Uint8Array): ConfState {
  return whole(bytes, "ConfState", readConfState);
}

/** Decodes a Snapshot. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return whole(bytes, "Snapshot", readSnapshot);
}

/** Decodes a Message. */
export function decodeMessage(bytes: Uint8Array): Message {
  return whole(bytes, "Message", readMessage);
}

/** Decodes a ConfChange. */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  return whole(bytes, "ConfChange", (r) => {
    const cc: ConfChange = { id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: 0n };
    while (r.more()) {
      const tag = r.tag();
      if (tag === ((1 << 3) | 0)) cc.id = r.uint64Big();
      else if (tag === ((2 << 3) | 0)) cc.type = readEnum<ConfChangeType>(r);
      else if (tag === ((3 << 3) | 0)) cc.nodeId = r.uint64Big();
      else if (tag === ((4 << 3) | 2)) cc.context = r.bytes();
      else r.skip(tag & 7);
    }
    return cc;
  });
}
