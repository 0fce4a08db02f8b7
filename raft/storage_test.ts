import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { type Entry, EntryType } from "./raftpb.ts";
import { MemoryStorage } from "./storage.ts";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from "./errors.ts";

const e = (index: number, term: number, data?: string): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  ...(data === undefined ? {} : { data: new TextEncoder().encode(data) }),
});

function storage345(): MemoryStorage {
  // etcd's storage tests: entries 3, 4, 5 after a snapshot at 3.
  const s = new MemoryStorage();
  s.applySnapshot({
    metadata: {
      index: 3,
      term: 3,
      confState: {
        voters: [1n],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  });
  s.append([e(4, 4), e(5, 5)]);
  return s;
}

Deno.test("MemoryStorage.term() reports compacted and unavailable indexes", () => {
  const s = storage345();
  throws(() => s.term(2), ErrCompacted);
  strictEqual(s.term(3), 3);
  strictEqual(s.term(5), 5);
  throws(() => s.term(6), ErrUnavailable);
});

Deno.test("MemoryStorage.entries() bounds, errors and size limit", () => {
  const s = storage345();
  throws(() => s.entries(2, 6, 1e9), ErrCompacted);
  throws(() => s.entries(3, 4, 1e9), ErrCompacted);
  deepStrictEqual(s.entries(4, 6, 1e9).map((x) => x.index), [4, 5]);
  deepStrictEqual(s.entries(4, 6, 0).map((x) => x.index), [4], "always at least one");
  strictEqual(s.firstIndex(), 4);
  strictEqual(s.lastIndex(), 5);
});

Deno.test("MemoryStorage.append() truncates a conflicting suffix and ignores compacted entries", () => {
  const s = storage345();
  s.append([e(3, 3), e(4, 6), e(5, 6), e(6, 6)]);
  deepStrictEqual(s.entries(4, 7, 1e9).map((x) => x.term), [6, 6, 6]);
  s.append([e(5, 7)]);
  deepStrictEqual(s.entries(4, 6, 1e9).map((x) => x.term), [6, 7]);
  strictEqual(s.lastIndex(), 5);
  throws(() => s.append([e(9, 9)]), /missing log entry/);
});

Deno.test("MemoryStorage.compact() and createSnapshot() keep the log consistent", () => {
  const s = storage345();
  s.append([e(6, 5, "x")]);
  throws(() => s.compact(3), ErrCompacted);
  s.compact(5);
  strictEqual(s.firstIndex(), 6);
  strictEqual(s.term(5), 5);
  const snap = s.createSnapshot(6, undefined, new Uint8Array([7]));
  strictEqual(snap.metadata.index, 6);
  strictEqual(snap.metadata.term, 5);
  deepStrictEqual(snap.metadata.confState.voters, [1n]);
  throws(() => s.createSnapshot(5, undefined, new Uint8Array()), ErrSnapOutOfDate);
  throws(() => s.applySnapshot(snap), ErrSnapOutOfDate);
});

Deno.test("MemoryStorage.initialState() returns the saved hard state and the snapshot's conf", () => {
  const s = storage345();
  s.setHardState({ term: 5, vote: 2n, commit: 4 });
  const st = s.initialState();
  deepStrictEqual(st.hardState, { term: 5, vote: 2n, commit: 4 });
  deepStrictEqual(st.confState.voters, [1n]);
});
