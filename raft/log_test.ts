import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { type Entry, EntryType } from "./raftpb.ts";
import { MemoryStorage } from "./storage.ts";
import { RaftLog } from "./log.ts";
import { RaftInvariantError } from "./errors.ts";

const e = (index: number, term: number): Entry => ({ index, term, type: EntryType.EntryNormal });

function logWith(terms: number[]): RaftLog {
  const storage = new MemoryStorage();
  storage.append(terms.map((t, i) => e(i + 1, t)));
  return new RaftLog(storage);
}

// Goal: the consistency check of AppendEntries (Raft §5.3), as a table.
Deno.test("maybeAppend() accepts only after a matching (index, term) and truncates conflicts", () => {
  const cases: {
    index: number;
    logTerm: number;
    commit: number;
    entries: Entry[];
    want: number | undefined;
    terms: number[];
    committed: number;
  }[] = [
    // Mismatched previous entry: rejected, nothing changes.
    {
      index: 3,
      logTerm: 2,
      commit: 3,
      entries: [e(4, 4)],
      want: undefined,
      terms: [1, 2, 3],
      committed: 1,
    },
    {
      index: 4,
      logTerm: 3,
      commit: 3,
      entries: [e(5, 4)],
      want: undefined,
      terms: [1, 2, 3],
      committed: 1,
    },
    // Matching: appended; commit moves to min(commit, last new).
    {
      index: 3,
      logTerm: 3,
      commit: 4,
      entries: [e(4, 4)],
      want: 4,
      terms: [1, 2, 3, 4],
      committed: 4,
    },
    { index: 3, logTerm: 3, commit: 9, entries: [], want: 3, terms: [1, 2, 3], committed: 3 },
    // A conflict at 3 replaces the tail.
    {
      index: 2,
      logTerm: 2,
      commit: 2,
      entries: [e(3, 4), e(4, 4)],
      want: 4,
      terms: [1, 2, 4, 4],
      committed: 2,
    },
    // Already present: no change.
    {
      index: 1,
      logTerm: 1,
      commit: 2,
      entries: [e(2, 2)],
      want: 2,
      terms: [1, 2, 3],
      committed: 2,
    },
  ];
  for (const c of cases) {
    const log = logWith([1, 2, 3]);
    log.commitTo(1);
    strictEqual(log.maybeAppend(c.index, c.logTerm, c.commit, c.entries), c.want);
    const terms = log.allEntries().map((x) => x.term);
    deepStrictEqual(terms, c.terms);
    strictEqual(log.committed, c.committed);
  }
});

// Goal: a committed entry can never be truncated (etcd panics; we throw).
Deno.test("maybeAppend() refuses to overwrite a committed entry", () => {
  const log = logWith([1, 2, 3]);
  log.commitTo(3);
  throws(() => log.maybeAppend(1, 1, 3, [e(2, 5)]), RaftInvariantError);
});

// Goal: Raft §5.4.1 up-to-date comparison: last term first, then length.
Deno.test("isUpToDate() compares last term, then last index", () => {
  const log = logWith([1, 2, 3]);
  ok(log.isUpToDate(1, 4));
  ok(log.isUpToDate(3, 3));
  ok(log.isUpToDate(4, 3));
  ok(!log.isUpToDate(2, 3));
  ok(!log.isUpToDate(9, 2));
});

// Goal: fast backtracking finds the last index whose term is <= the given term.
Deno.test("findConflictByTerm() skips entries with a higher term", () => {
  const log = logWith([1, 1, 2, 2, 5, 5, 5]);
  strictEqual(log.findConflictByTerm(7, 3), 4);
  strictEqual(log.findConflictByTerm(7, 5), 7);
  strictEqual(log.findConflictByTerm(7, 1), 2);
  strictEqual(log.findConflictByTerm(7, 0), 0);
  strictEqual(log.findConflictByTerm(20, 1), 20, "past the end: unchanged");
});

// Goal: slices combine storage and the unstable tail and honour the size limit.
Deno.test("slice() spans stable and unstable entries and respects maxSize", () => {
  const log = logWith([1, 1, 1]);
  log.append([e(4, 2), e(5, 2)]);
  deepStrictEqual(log.slice(2, 6, Number.MAX_SAFE_INTEGER)!.map((x) => x.index), [2, 3, 4, 5]);
  deepStrictEqual(log.slice(2, 6, 1)!.map((x) => x.index), [2], "at least one entry");
  deepStrictEqual(log.unstableEntries().map((x) => x.index), [4, 5]);
  log.stableTo(5, 2);
  deepStrictEqual(log.unstableEntries(), []);
});

// Goal: compaction makes old indexes unreadable; their term lookups say so.
Deno.test("a compacted prefix reads as undefined and term() reports it", () => {
  const storage = new MemoryStorage();
  storage.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
  storage.compact(2);
  const log = new RaftLog(storage);
  strictEqual(log.firstIndex(), 3);
  strictEqual(log.committed, 2);
  strictEqual(log.slice(1, 3, 100), undefined);
  strictEqual(log.term(2), 1, "the compacted point's term is kept");
  strictEqual(log.term(1), 0, "before the dummy entry: 0");
  ok(!log.matchTerm(1, 1));
});

// Goal: maybeCommit commits only entries of the given term (Raft §5.4.2).
Deno.test("maybeCommit() refuses an index whose entry has another term", () => {
  const log = logWith([1, 2, 3]);
  ok(!log.maybeCommit(2, 3));
  strictEqual(log.committed, 0);
  ok(log.maybeCommit(3, 3));
  strictEqual(log.committed, 3);
});

// Goal: a snapshot restore resets the log to the snapshot point.
Deno.test("restore() moves the log to the snapshot", () => {
  const log = logWith([1, 1]);
  log.restore({
    metadata: {
      index: 10,
      term: 4,
      confState: {
        voters: [1n],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  });
  strictEqual(log.committed, 10);
  strictEqual(log.lastIndex(), 10);
  strictEqual(log.firstIndex(), 11);
  strictEqual(log.term(10), 4);
});
