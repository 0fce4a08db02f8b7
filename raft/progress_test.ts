import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { Inflights } from "./inflights.ts";
import { Progress, ProgressState } from "./progress.ts";
import { committedIndex, VoteResult, voteResult } from "./quorum.ts";

Deno.test("Inflights is a bounded ring: full at size, freed in order", () => {
  const inf = new Inflights(3);
  inf.add(5);
  inf.add(7);
  inf.add(9);
  ok(inf.full());
  throws(() => inf.add(10), /full/);
  inf.freeLE(6);
  strictEqual(inf.count(), 2);
  inf.add(11);
  ok(inf.full());
  inf.freeLE(4);
  strictEqual(inf.count(), 3, "freeing below the oldest frees nothing");
  inf.freeFirstOne();
  strictEqual(inf.count(), 2);
  inf.freeLE(100);
  strictEqual(inf.count(), 0);
  inf.add(1);
  strictEqual(inf.count(), 1);
});

Deno.test("Progress.maybeDecrTo(): stale rejections are ignored; probes back up to the hint", () => {
  const pr = new Progress({ match: 5, next: 10, maxInflight: 4, isLearner: false });
  pr.becomeReplicate();
  ok(!pr.maybeDecrTo(5, 5), "a rejection at or below match is stale in replicate");
  ok(pr.maybeDecrTo(7, 6));
  strictEqual(pr.next, 6);
  pr.becomeProbe();
  pr.next = 10;
  ok(!pr.maybeDecrTo(5, 3), "only a rejection of next-1 counts in probe");
  ok(pr.maybeDecrTo(9, 3));
  strictEqual(pr.next, 4);
  ok(pr.maybeDecrTo(3, 0));
  strictEqual(pr.next, 1, "never below 1");
});

Deno.test("Progress pauses: probe after one send, replicate on a full window, always in snapshot", () => {
  const pr = new Progress({ match: 0, next: 1, maxInflight: 1, isLearner: false });
  ok(!pr.isPaused());
  pr.probeSent = true;
  ok(pr.isPaused());
  pr.maybeUpdate(3);
  ok(!pr.isPaused(), "an ack unpauses a probe");
  pr.becomeReplicate();
  pr.inflights.add(4);
  ok(pr.isPaused());
  pr.becomeSnapshot(10);
  ok(pr.isPaused());
  strictEqual(pr.state, ProgressState.StateSnapshot);
  pr.becomeProbe();
  strictEqual(pr.next, 11, "probing resumes after the snapshot");
});

Deno.test("committedIndex() is the highest index held by a majority", () => {
  const acked = new Map<bigint, number>([[1n, 5], [2n, 3], [3n, 9]]);
  strictEqual(committedIndex([1n, 2n, 3n], (id) => acked.get(id)), 5);
  strictEqual(committedIndex([1n, 2n, 3n, 4n], (id) => acked.get(id)), 3);
  strictEqual(committedIndex([3n], (id) => acked.get(id)), 9);
  strictEqual(committedIndex([], () => 0), Number.MAX_SAFE_INTEGER);
});

Deno.test("voteResult() decides won, lost or pending", () => {
  const votes = (entries: [bigint, boolean][]) => new Map(entries);
  strictEqual(voteResult([1n, 2n, 3n], votes([[1n, true], [2n, true]])), VoteResult.VoteWon);
  strictEqual(voteResult([1n, 2n, 3n], votes([[1n, false], [2n, false]])), VoteResult.VoteLost);
  strictEqual(voteResult([1n, 2n, 3n], votes([[1n, true], [2n, false]])), VoteResult.VotePending);
  strictEqual(
    voteResult([1n, 2n, 3n, 4n], votes([[1n, true], [2n, true]])),
    VoteResult.VotePending,
  );
  strictEqual(voteResult([], undefined), VoteResult.VoteWon);
  deepStrictEqual(
    voteResult([1n], votes([[2n, true]])),
    VoteResult.VotePending,
    "a non-voter's vote does not count",
  );
});
