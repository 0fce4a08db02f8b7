/**
 * Joins a leader's appends (MsgApp) to one follower into one when each picks up exactly where
 * the one before ends. Raft sends one MsgApp per follower for every proposal it steps and every
 * commit index an append response moves (`bcastAppend`), so one Ready can hold a dozen appends
 * for a follower, half of them empty ones that only move the commit index (3 members, 1000
 * clients over all members: 12.6 per follower per leader Ready). Each costs an encode, a
 * decode, a step and an append response (MsgAppResp) at the follower, and a step of that
 * response back at the leader. Joined, they cost one. This is for the driver, on the messages
 * of a Ready; raft itself still emits one message per send, as etcd's does.
 *
 * The joined message is what the follower would have made of the two in order: raft's
 * `maybeAppend` checks the first's (index, logTerm) against its log, appends the entries of
 * both, and sets its commit to min(second commit, last new index), as it would after the
 * second (a leader's commit index only grows within its term, so the second's is the larger).
 * The follower's single answer acknowledges the second's last index, which frees both in the
 * leader's in-flight window (`Inflights.freeLE`); to raft it is as if the first answer was
 * lost, which it tolerates.
 *
 * @module
 */

import { type Message, MessageType } from "./raftpb.ts";

/** Entries one joined MsgApp carries at most (bounds the work of a join, too). */
export const MERGED_ENTRIES_MAX = 4096;
/** Entry bytes one joined MsgApp carries at most (etcd's default max size of a MsgApp). */
export const MERGED_BYTES_MAX = 1024 * 1024;

/**
 * The MsgApp that carries `first` then `second`, or undefined when they do not chain: not
 * both appends from the same leader and term to the same peer, the second not starting
 * right after the first's last entry (or at the first's own position when the first is
 * empty), a smaller commit index in the second, or the bounds above exceeded.
 */
export function mergeAppends(first: Message, second: Message): Message | undefined {
  if (first.type !== MessageType.MsgApp || second.type !== MessageType.MsgApp) return undefined;
  if (first.to !== second.to || first.from !== second.from || first.term !== second.term) {
    return undefined;
  }
  // Raft's appends carry no context; one that does is not ours to rewrite.
  if (first.context !== undefined || second.context !== undefined) return undefined;
  const count = first.entries.length;
  const last = count === 0 ? undefined : first.entries[count - 1]!;
  // Where the first leaves the follower's log: its last entry, or its own position if empty.
  const endIndex = last === undefined ? first.index : last.index;
  const endTerm = last === undefined ? first.logTerm : last.term;
  if (second.index !== endIndex || second.logTerm !== endTerm) return undefined;
  if (second.commit < first.commit) return undefined;
  if (count + second.entries.length > MERGED_ENTRIES_MAX) return undefined;
  if (_entryBytes(first) + _entryBytes(second) > MERGED_BYTES_MAX) return undefined;
  const entries = count === 0
    ? second.entries
    : second.entries.length === 0
    ? first.entries
    : first.entries.concat(second.entries);
  return { ...first, entries, commit: second.commit };
}

/** The data bytes of a message's entries. */
function _entryBytes(message: Message): number {
  let bytes = 0;
  for (const entry of message.entries) bytes += entry.data?.length ?? 0;
  return bytes;
}

/**
 * The messages of a Ready with each MsgApp joined into the message before it to the same peer
 * when that one is a MsgApp it continues (`mergeAppends`). Messages are never reordered: a
 * message to another peer in between does not stop a join, one to the same peer does.
 */
export function coalesceAppends(messages: Message[]): Message[] {
  if (messages.length < 2) return messages;
  const out: Message[] = [];
  // Position in `out` of the last message to each peer.
  const lastTo = new Map<bigint, number>();
  for (const message of messages) {
    const at = lastTo.get(message.to);
    const merged = at === undefined ? undefined : mergeAppends(out[at]!, message);
    if (merged !== undefined) {
      out[at!] = merged;
      continue;
    }
    lastTo.set(message.to, out.length);
    out.push(message);
  }
  return out;
}
