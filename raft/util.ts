/**
 * Small helpers over raftpb types: message classes, entry sizes, size-limited slices.
 *
 * @module
 */

import { type Entry, MessageType, type MessageType as MessageTypeValue } from "./raftpb.ts";
import { varintSize } from "../pb/mod.ts";

/** The "no node" ID (etcd's `None`). */
export const NONE = 0n;

/** No size limit for `limitSize` and `entries`. */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** True for messages a node only ever sends to itself (never over the network). */
export function isLocalMsg(type: MessageTypeValue): boolean {
  return type === MessageType.MsgHup || type === MessageType.MsgBeat ||
    type === MessageType.MsgUnreachable || type === MessageType.MsgSnapStatus ||
    type === MessageType.MsgCheckQuorum;
}

/** True for messages that answer a request of the receiver. */
export function isResponseMsg(type: MessageTypeValue): boolean {
  return type === MessageType.MsgAppResp || type === MessageType.MsgVoteResp ||
    type === MessageType.MsgHeartbeatResp || type === MessageType.MsgUnreachable ||
    type === MessageType.MsgPreVoteResp;
}

/** The response type of a vote request type. */
export function voteRespMsgType(type: MessageTypeValue): MessageTypeValue {
  if (type === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (type === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new RangeError(`not a vote message: ${type}`);
}

/** The encoded size of an entry, as gogoproto's `Entry.Size()` computes it. */
export function entrySize(e: Entry): number {
  let n = 3 + varintSize(e.type) + varintSize(e.term) + varintSize(e.index);
  if (e.data !== undefined) n += 1 + varintSize(e.data.length) + e.data.length;
  return n;
}

/** The size of an entry's payload (what counts against the uncommitted size limit). */
export function payloadSize(e: Entry): number {
  return e.data === undefined ? 0 : e.data.length;
}

/** A prefix of `entries` whose total size is at most `maxSize`, but never empty when the input
 * is not (the first entry is always returned, as etcd does). */
export function limitSize(entries: Entry[], maxSize: number): Entry[] {
  if (entries.length === 0 || maxSize >= NO_LIMIT) return entries;
  let size = entrySize(entries[0]!);
  let limit = 1;
  for (; limit < entries.length; limit++) {
    size += entrySize(entries[limit]!);
    if (size > maxSize) break;
  }
  return limit === entries.length ? entries : entries.slice(0, limit);
}

/** min of two numbers (indexes). */
export function minIndex(a: number, b: number): number {
  return a < b ? a : b;
}

/** max of two numbers (indexes). */
export function maxIndex(a: number, b: number): number {
  return a > b ? a : b;
}
