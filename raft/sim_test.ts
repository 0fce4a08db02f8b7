import { deepStrictEqual, match, ok } from "node:assert/strict";
import { reproCommand, Simulation } from "./sim.ts";
import { RaftLog } from "./log.ts";
import { Raft } from "./raft.ts";
import { type Message, MessageType } from "./raftpb.ts";

function runSeeds(first: number, count: number, nodes: number): void {
  for (let seed = first; seed < first + count; seed++) {
    const result = new Simulation({ seed, nodes }).run();
    if (!result.ok) {
      throw new Error(`${result.error}\nreproduce: ${reproCommand(seed, nodes)}`);
    }
  }
}

// Goal: the simulator's invariants hold on a small deterministic slice of seeds for every
// cluster size (the many-seed run is tests/raft_sim_test.ts and `deno task sim:raft`).
for (const nodes of [1, 3, 5, 7]) {
  Deno.test(`simulation: 20 seeds of a ${nodes}-node cluster keep every invariant`, () => {
    runSeeds(1, 20, nodes);
  });
}

// Goal: a seed replays exactly (the reproduction command depends on it).
Deno.test("simulation: a seed replays to the same result", () => {
  const a = new Simulation({ seed: 77 }).run();
  const b = new Simulation({ seed: 77 }).run();
  deepStrictEqual(a, b);
  ok(a.ok && a.committed > 0 && a.deliveries > 0);
});

/** Runs seeds until one fails; returns its error (the checker must catch the bug). */
function firstViolation(seeds: number): string | undefined {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = new Simulation({ seed }).run();
    if (!result.ok) return result.error;
  }
  return undefined;
}

// Goal: the checker catches a real bug. Method: break Raft §5.4.1 (vote for any log) and
// expect a leader-completeness or commit-safety violation.
Deno.test("simulation catches a raft that votes for candidates with stale logs", () => {
  const original = RaftLog.prototype.isUpToDate;
  RaftLog.prototype.isUpToDate = () => true;
  try {
    const error = firstViolation(50);
    ok(error !== undefined, "the broken vote rule went unnoticed");
    match(error, /leader completeness|commit safety|state machine safety|log matching/);
  } finally {
    RaftLog.prototype.isUpToDate = original;
  }
});

// Goal: the linearizability check works. Method: a leader that answers ReadIndex from its
// own commit index without confirming its leadership must be caught serving a stale read.
Deno.test("simulation catches ReadIndex answered without a heartbeat round", () => {
  const original = Raft.prototype.step;
  Raft.prototype.step = function (this: Raft, m: Message): void {
    if (m.type === MessageType.MsgReadIndex && this.state === 2) {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp !== undefined) this.send(resp);
      return;
    }
    original.call(this, m);
  };
  try {
    const error = firstViolation(50);
    ok(error !== undefined, "stale reads went unnoticed");
    match(error, /linearizability/);
  } finally {
    Raft.prototype.step = original;
  }
});
