/**
 * `--force-new-cluster` (etcd's `restartAsStandaloneNode`): a member restarts as the only
 * voter of its cluster, keeping its data. What it does to the log read from the WAL:
 *
 * 1. entries past the commit index are discarded (nobody else will ever confirm them);
 * 2. the members known from the snapshot's ConfState and the log's conf changes are listed;
 * 3. ConfChange entries are appended at the current term, committed at once: the member adds
 *    itself if it is missing, then removes every other member (raft must never see an empty
 *    voter set, hence that order).
 *
 * @module
 */

import {
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
} from "../raft/mod.ts";

const _encoder = new TextEncoder();

/** The log after forcing, and the entries to append to the WAL. */
export interface ForcedLog {
  entries: Entry[];
  hardState: HardState;
  /** The conf change entries appended (to be saved in the WAL). */
  appended: Entry[];
}

/** etcd's getIDs: members in the snapshot's ConfState, then the log's conf changes. */
export function memberIdsOf(snapshot: Snapshot | undefined, entries: readonly Entry[]): bigint[] {
  const ids = new Set<bigint>();
  for (const id of snapshot?.metadata.confState.voters ?? []) ids.add(id);
  for (const entry of entries) {
    if (entry.type !== EntryType.EntryConfChange) continue;
    const cc = decodeConfChange(entry.data ?? new Uint8Array(0));
    if (
      cc.type === ConfChangeType.ConfChangeAddNode ||
      cc.type === ConfChangeType.ConfChangeAddLearnerNode
    ) ids.add(cc.nodeId);
    else if (cc.type === ConfChangeType.ConfChangeRemoveNode) ids.delete(cc.nodeId);
  }
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Rewrites the log read from the WAL so that `self` is the only member. */
export function forceNewClusterLog(options: {
  self: bigint;
  snapshot: Snapshot | undefined;
  entries: readonly Entry[];
  hardState: HardState;
}): ForcedLog {
  const { self, snapshot, hardState } = options;
  const committed = options.entries.filter((entry) => entry.index <= hardState.commit);
  const ids = memberIdsOf(snapshot, committed);
  const appended: Entry[] = [];
  const lastIndex = committed.at(-1)?.index ?? snapshot?.metadata.index ?? 0;
  let next = Math.max(hardState.commit, lastIndex) + 1;
  const confChange = (type: ConfChangeType, nodeId: bigint, context?: Uint8Array): Entry => ({
    type: EntryType.EntryConfChange,
    term: hardState.term,
    index: next++,
    data: encodeConfChange({ id: 0n, type, nodeId, context }),
  });
  if (!ids.includes(self)) {
    // etcd adds itself with a placeholder peer URL; the backend keeps the real one.
    const context = _encoder.encode(`{"id":${self},"peerURLs":["http://localhost:2380"]}`);
    appended.push(confChange(ConfChangeType.ConfChangeAddNode, self, context));
  }
  for (const id of ids) {
    if (id !== self) appended.push(confChange(ConfChangeType.ConfChangeRemoveNode, id));
  }
  const entries = [...committed, ...appended];
  const last = entries.at(-1)?.index ?? hardState.commit;
  return {
    entries,
    appended,
    hardState: { ...hardState, commit: Math.max(hardState.commit, last) },
  };
}
