/**
 * Pending ReadIndex requests on a leader (etcd's raft/read_only.go).
 *
 * ReadOnlySafe (Raft §6.4): the leader records its commit index for each request, sends a
 * heartbeat carrying the request's context, and answers once a quorum acknowledged that
 * heartbeat, which proves it was still the leader when the read arrived. A quorum ack of one
 * context also confirms every request queued before it, so many reads share one round.
 *
 * @module
 */

import type { Message } from "./raftpb.ts";

/** How read-only requests are served. */
export const ReadOnlyOption = {
  /** Confirm leadership with a heartbeat round (linearizable). */
  ReadOnlySafe: 0,
  /** Trust the leader lease (needs check-quorum; depends on bounded clock drift). */
  ReadOnlyLeaseBased: 1,
} as const;
/** A ReadOnlyOption value. */
export type ReadOnlyOption = typeof ReadOnlyOption[keyof typeof ReadOnlyOption];

/** A read answered: reads at `index` are linearizable once the node has applied `index`. */
export interface ReadState {
  /** The commit index when the read was confirmed. */
  index: number;
  /** The context given to `readIndex`. */
  requestCtx: Uint8Array;
}

/** One pending request: the commit index when it arrived and who acknowledged it. */
export interface ReadIndexStatus {
  /** The MsgReadIndex (its entry holds the context). */
  req: Message;
  /** The leader's commit index when the request arrived. */
  index: number;
  /** Nodes that acknowledged the heartbeat carrying this context. */
  acks: Map<bigint, boolean>;
}

/** A context's bytes as a map key (latin1, one char per byte). */
export function contextKey(context: Uint8Array | undefined): string {
  if (context === undefined || context.length === 0) return "";
  let s = "";
  for (let i = 0; i < context.length; i++) s += String.fromCharCode(context[i]!);
  return s;
}

/** The queue of pending ReadIndex requests, in arrival order. */
export class ReadOnly {
  /** The read mode. */
  readonly option: ReadOnlyOption;
  #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  /** An empty queue. */
  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /** Queues a request read at `index`; a duplicate context is ignored. */
  addRequest(index: number, m: Message): void {
    const key = contextKey(m.entries[0]?.data);
    if (this.#pending.has(key)) return;
    this.#pending.set(key, { req: m, index, acks: new Map() });
    this.#queue.push(key);
  }

  /** Records that `id` acknowledged the heartbeat with `context`; returns the acks so far. */
  recvAck(id: bigint, context: Uint8Array | undefined): Map<bigint, boolean> | undefined {
    const rs = this.#pending.get(contextKey(context));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Removes and returns every request up to and including the one with m's context. */
  advance(m: Message): ReadIndexStatus[] {
    const key = contextKey(m.context);
    const at = this.#queue.indexOf(key);
    if (at < 0) return [];
    const done = this.#queue.slice(0, at + 1);
    this.#queue = this.#queue.slice(at + 1);
    const statuses: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.#pending.get(k);
      if (rs === undefined) {
        throw new Error("cannot find corresponding read state from pending map");
      }
      statuses.push(rs);
      this.#pending.delete(k);
    }
    return statuses;
  }

  /** The context of the newest pending request ("" if none). */
  lastPendingRequestCtx(): string {
    // Not `queue[length - 1]` on an empty queue: a lookup of the property "-1" (megamorphic).
    const length = this.#queue.length;
    return length > 0 ? this.#queue[length - 1]! : "";
  }

  /** The number of pending requests. */
  pendingCount(): number {
    return this.#queue.length;
  }
}
