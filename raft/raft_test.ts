import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  ConfChangeType,
  encodeConfChange,
  EntryType,
  type Message,
  MessageType,
  newMessage,
} from "./raftpb.ts";
import { MemoryStorage } from "./storage.ts";
import { Raft, StateType } from "./raft.ts";
import { ReadOnlyOption } from "./read_only.ts";
import { Xoshiro128 } from "./rand.ts";
import { ErrProposalDropped } from "./errors.ts";
import { ProgressState } from "./progress.ts";
import { Network, newTestRaft, propMessage, readMessages } from "./network_test_util.ts";

const hup = () => newMessage({ type: MessageType.MsgHup });
const beat = () => newMessage({ type: MessageType.MsgBeat });
const text = new TextDecoder();

function isLeader(r: { state: number }): boolean {
  return r.state === StateType.StateLeader;
}

function logTerms(net: Network, id: bigint): number[] {
  const log = net.node(id).raftLog;
  const terms: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) terms.push(log.term(i)!);
  return terms;
}

// Goal: the basic election (Raft §5.2). Method: one node campaigns in a healthy 3-node network.
Deno.test("a campaign in a healthy cluster elects the candidate at term 1", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  strictEqual(net.node(1n).state, StateType.StateLeader);
  strictEqual(net.node(1n).term, 1);
  for (const id of [2n, 3n]) {
    strictEqual(net.node(id).state, StateType.StateFollower);
    strictEqual(net.node(id).lead, 1n);
  }
  // The leader's empty entry of its term commits everywhere.
  strictEqual(net.node(1n).raftLog.committed, 1);
});

// Goal: split votes leave no leader and a later timeout resolves them (Raft §5.2). Method: in
// a 4-node cluster two candidates each reach half the voters; then one times out again.
Deno.test("split votes elect nobody; the next election timeout elects a leader", () => {
  const net = Network.of(4);
  net.cut(1n, 3n);
  net.cut(1n, 4n);
  net.cut(3n, 2n);
  const n1 = net.node(1n);
  const n3 = net.node(3n);
  n1.step(hup());
  n3.step(hup());
  net.send(...readMessages(n1), ...readMessages(n3));
  strictEqual(n1.state, StateType.StateCandidate);
  strictEqual(n3.state, StateType.StateCandidate);
  strictEqual(n1.term, 1);
  strictEqual(n3.term, 1);
  for (const r of net.peers.values()) ok(r.state !== StateType.StateLeader);
  net.recover();
  // n1 times out first and wins term 2 with every vote.
  for (let i = 0; i < 2 * n1.electionTimeout && !isLeader(n1); i++) {
    n1.tick();
    net.send(...readMessages(n1));
  }
  strictEqual(n1.state, StateType.StateLeader);
  strictEqual(n1.term, 2);
  strictEqual(n3.state, StateType.StateFollower);
});

// Goal: a candidate loses when a majority rejects it (Raft §5.4.1, up-to-date check).
Deno.test("a candidate with a stale log loses the election", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.isolate(3n);
  net.stepLocal(1n, propMessage("x"));
  net.recover();
  net.isolate(1n);
  net.stepLocal(3n, hup());
  ok(!isLeader(net.node(3n)));
  // n2 has the entry n3 lacks, so it refused its vote.
  strictEqual(net.node(2n).vote, 0n);
  ok(net.delivered.some((m) => m.type === MessageType.MsgVoteResp && m.from === 2n && m.reject));
});

// Goal: a leader of an old term steps down when it hears a newer term (Raft §5.1).
Deno.test("a stale leader steps down on a message with a higher term", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.isolate(1n);
  net.stepLocal(2n, hup());
  strictEqual(net.node(2n).state, StateType.StateLeader);
  strictEqual(net.node(2n).term, 2);
  // The old leader, unaware, accepts a proposal at term 1.
  net.stepLocal(1n, propMessage("lost"));
  strictEqual(net.node(1n).state, StateType.StateLeader);
  strictEqual(net.node(1n).raftLog.lastIndex(), 2);
  net.recover();
  net.stepLocal(2n, beat());
  const n1 = net.node(1n);
  strictEqual(n1.state, StateType.StateFollower);
  strictEqual(n1.term, 2);
  strictEqual(n1.lead, 2n);
  // Its uncommitted entry of term 1 is replaced by the new leader's log.
  net.stepLocal(2n, propMessage("kept"));
  deepStrictEqual(logTerms(net, 1n), logTerms(net, 2n));
  strictEqual(n1.raftLog.committed, net.node(2n).raftLog.committed);
});

// Goal: Raft §5.4.2 — a leader never commits an entry of an earlier term by counting
// replicas; only an entry of its own term commits it. Method: ack the old entries one by one.
Deno.test("a leader commits entries of earlier terms only through an entry of its term", () => {
  const storage = new MemoryStorage();
  storage.append([
    { term: 1, index: 1, type: EntryType.EntryNormal },
    { term: 2, index: 2, type: EntryType.EntryNormal },
  ]);
  storage.setHardState({ term: 2, vote: 0n, commit: 0 });
  const r = newTestRaft(1n, { voters: [1n, 2n, 3n], storage });
  r.becomeCandidate();
  r.becomeLeader();
  strictEqual(r.term, 3);
  strictEqual(r.raftLog.lastIndex(), 3);
  readMessages(r);
  const ack = (index: number) =>
    r.step(newMessage({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: r.term, index }));
  ack(1);
  strictEqual(r.raftLog.committed, 0);
  ack(2);
  strictEqual(r.raftLog.committed, 0, "entry 2 (term 2) is on a majority but must not commit");
  ack(3);
  strictEqual(r.raftLog.committed, 3, "the term-3 entry commits everything before it");
});

// Goal: Figure 8 of the Raft paper end to end: an entry of an old term replicated on a
// majority can still be overwritten, which is why it must not be counted as committed.
// Method: five nodes; MsgApp size limited to one entry; filters decide which entries land.
Deno.test("figure 8: a majority-replicated entry of an old term is not committed and is overwritten", () => {
  const net = Network.of(5, { maxSizePerMsg: 1 });
  const [s1, s2, s3, s5] = [net.node(1n), net.node(2n), net.node(3n), net.node(5n)];
  // (a) S1 leads term 1; entry 2 ("a", term 1) reaches only S2.
  net.stepLocal(1n, hup());
  for (const id of [3n, 4n, 5n]) net.cut(1n, id);
  net.stepLocal(1n, propMessage("a"));
  deepStrictEqual(logTerms(net, 2n), [1, 1]);
  // (b) S1 is down; S5 wins term 2 with S3 and S4 and appends entry 2 of term 2, alone.
  net.recover();
  net.isolate(1n);
  net.ignore(MessageType.MsgApp);
  net.stepLocal(5n, hup());
  strictEqual(s5.state, StateType.StateLeader);
  deepStrictEqual(logTerms(net, 5n), [1, 2]);
  // (c) S5 is down; S1 restarts (a follower at its persisted term) and wins term 3 with S2,
  // S3 and S4 (it campaigns until it wins).
  net.recover();
  net.isolate(5n);
  s1.becomeFollower(s1.term, 0n);
  // Only entry 2 may reach S3, never S1's term-3 entry.
  net.filter = (m) => {
    if (m.type === MessageType.MsgApp) m.entries = m.entries.filter((e) => e.index <= 2);
    return true;
  };
  for (let i = 0; i < 3 && !isLeader(s1); i++) net.stepLocal(1n, hup());
  strictEqual(s1.state, StateType.StateLeader);
  strictEqual(s1.term, 3);
  deepStrictEqual(logTerms(net, 3n), [1, 1]);
  strictEqual(s1.prs.progress.get(3n)?.match, 2);
  strictEqual(s1.prs.progress.get(2n)?.match, 2);
  // Entry 2 (term 1) is on S1, S2, S3 — a majority — yet it is not committed.
  strictEqual(s1.raftLog.committed, 1);
  // (d) S1 is down again; S5 (last term 2) is more up to date than S2, S3, S4 and wins.
  net.recover();
  net.isolate(1n);
  s5.becomeFollower(s5.term, 0n);
  for (let i = 0; i < 3 && !isLeader(s5); i++) net.stepLocal(5n, hup());
  strictEqual(s5.state, StateType.StateLeader);
  net.stepLocal(5n, beat());
  // S5's entry 2 (term 2) replaces entry 2 (term 1) on S2 and S3: it was never safe to commit.
  deepStrictEqual(logTerms(net, 2n).slice(0, 2), [1, 2]);
  deepStrictEqual(logTerms(net, 3n).slice(0, 2), [1, 2]);
  ok(s2.raftLog.committed >= 2);
  strictEqual(text.decode(s3.raftLog.slice(2, 3, Number.MAX_SAFE_INTEGER)![0]!.data), "");
});

// Goal: log matching (Raft §5.3): a follower with a divergent tail is repaired to the
// leader's log. Method: build divergent logs through partitions, then heal.
Deno.test("log matching: divergent follower logs converge to the leader's", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.isolate(1n);
  for (const s of ["x", "y", "z"]) net.stepLocal(1n, propMessage(s));
  net.recover();
  net.isolate(1n);
  net.stepLocal(2n, hup());
  net.stepLocal(2n, propMessage("w"));
  net.recover();
  net.stepLocal(2n, beat());
  deepStrictEqual(logTerms(net, 1n), logTerms(net, 2n));
  deepStrictEqual(logTerms(net, 3n), logTerms(net, 2n));
  const ents = net.node(1n).raftLog.allEntries();
  deepStrictEqual(ents.map((e) => text.decode(e.data ?? new Uint8Array())), ["", "", "w"]);
});

// Goal: fast backtracking skips a whole divergent term in one round trip instead of one
// entry per round trip. Method: a follower with 50 entries of a stale term.
Deno.test("a rejected MsgApp backs the leader up over a whole divergent term at once", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.isolate(1n);
  for (let i = 0; i < 50; i++) net.stepLocal(1n, propMessage(`stale${i}`));
  net.recover();
  net.isolate(1n);
  net.stepLocal(2n, hup());
  for (let i = 0; i < 5; i++) net.stepLocal(2n, propMessage(`new${i}`));
  net.recover();
  const before = net.delivered.length;
  net.stepLocal(2n, beat());
  const rejects = net.delivered.slice(before).filter((m) =>
    m.type === MessageType.MsgAppResp && m.reject && m.from === 1n
  );
  ok(rejects.length <= 2, `took ${rejects.length} rejections`);
  deepStrictEqual(logTerms(net, 1n), logTerms(net, 2n));
});

// Goal: pre-vote keeps a partitioned node from inflating its term and disrupting the leader
// when it returns (Raft thesis §9.6). Method: compare with pre-vote off.
Deno.test("pre-vote: an isolated node does not raise its term, and rejoins without disruption", () => {
  for (const preVote of [true, false]) {
    const net = Network.of(3, { preVote });
    net.stepLocal(1n, hup());
    net.isolate(3n);
    const n3 = net.node(3n);
    for (let i = 0; i < 10 * n3.electionTimeout; i++) {
      n3.tick();
      net.send(...readMessages(n3));
    }
    if (preVote) {
      strictEqual(n3.term, 1, "pre-candidates never bump their term");
      strictEqual(n3.state, StateType.StatePreCandidate);
    } else {
      ok(n3.term > 5, "without pre-vote every timeout bumps the term");
    }
    net.recover();
    // Everybody runs for two election timeouts now that n3 hears the cluster again.
    for (let i = 0; i < 2 * n3.electionTimeout; i++) {
      for (const r of net.peers.values()) {
        r.tick();
        net.send(...readMessages(r));
      }
    }
    if (preVote) {
      strictEqual(net.node(1n).state, StateType.StateLeader, "the leader kept its place");
      strictEqual(net.node(1n).term, 1);
    } else {
      ok(net.node(1n).term > 1, "the returning node forced a new term");
    }
  }
});

// Goal: check-quorum — a leader that cannot hear a quorum for an election timeout steps down.
Deno.test("check-quorum: an isolated leader steps down after an election timeout", () => {
  const net = Network.of(3, { checkQuorum: true });
  net.stepLocal(1n, hup());
  const n1 = net.node(1n);
  net.isolate(1n);
  // The first check still sees the acks from before the partition; the second does not.
  for (let i = 0; i < n1.electionTimeout; i++) {
    n1.tick();
    net.send(...readMessages(n1));
  }
  strictEqual(n1.state, StateType.StateLeader);
  for (let i = 0; i < n1.electionTimeout; i++) {
    n1.tick();
    net.send(...readMessages(n1));
  }
  strictEqual(n1.state, StateType.StateFollower);
});

// Goal: check-quorum leases — a follower hearing a leader ignores vote requests.
Deno.test("check-quorum: followers in a leader lease ignore a disruptive candidate", () => {
  const net = Network.of(3, { checkQuorum: true });
  net.stepLocal(1n, hup());
  net.stepLocal(1n, beat());
  net.stepLocal(3n, hup());
  strictEqual(net.node(1n).state, StateType.StateLeader);
  strictEqual(net.node(2n).term, 1);
});

// Goal: learners never vote nor count for quorum. Method: a learner is the only reachable node.
Deno.test("learners are not asked to vote, do not campaign, and do not count for commit", () => {
  const voters = [1n, 2n, 3n];
  const learners = [4n];
  const net = new Network([1n, 2n, 3n, 4n].map((id) => newTestRaft(id, { voters, learners })));
  const n4 = net.node(4n);
  for (let i = 0; i < 5 * n4.electionTimeout; i++) {
    n4.tick();
    net.send(...readMessages(n4));
  }
  strictEqual(n4.state, StateType.StateFollower, "a learner never campaigns");
  strictEqual(n4.term, 0);
  net.isolate(2n);
  net.isolate(3n);
  net.stepLocal(1n, hup());
  ok(
    !net.delivered.some((m) => m.type === MessageType.MsgVote && m.to === 4n),
    "no vote request goes to a learner",
  );
  strictEqual(net.node(1n).state, StateType.StateCandidate);
  // A learner's granted vote is not counted either.
  const n1 = net.node(1n);
  n1.step(newMessage({ type: MessageType.MsgVoteResp, from: 4n, to: 1n, term: n1.term }));
  strictEqual(n1.state, StateType.StateCandidate);
  // With a leader and the learner acking, nothing commits without a second voter.
  net.recover();
  net.stepLocal(1n, hup());
  strictEqual(n1.state, StateType.StateLeader);
  const committed = n1.raftLog.committed;
  net.isolate(2n);
  net.isolate(3n);
  net.stepLocal(1n, propMessage("x"));
  strictEqual(n4.raftLog.lastIndex(), n1.raftLog.lastIndex(), "the learner has the entry");
  strictEqual(n1.raftLog.committed, committed, "but it does not count toward a quorum");
});

// Goal: a follower forwards proposals to the leader; without a leader they are dropped.
Deno.test("proposals are forwarded to the leader, or dropped with ErrProposalDropped", () => {
  const net = Network.of(3);
  const n2 = net.node(2n);
  throws(() => n2.step(propMessage("early")), ErrProposalDropped);
  net.stepLocal(1n, hup());
  net.stepLocal(2n, propMessage("fwd"));
  const last = net.node(1n).raftLog.lastIndex();
  const entry = net.node(1n).raftLog.slice(last, last + 1, Number.MAX_SAFE_INTEGER)![0]!;
  strictEqual(text.decode(entry.data), "fwd");
  strictEqual(net.node(3n).raftLog.committed, last);
  // With forwarding disabled a follower drops the proposal although it knows the leader.
  const voters = [1n, 2n];
  const quiet = new Network([
    newTestRaft(1n, { voters }),
    newTestRaft(2n, { voters, disableProposalForwarding: true }),
  ]);
  quiet.stepLocal(1n, hup());
  strictEqual(quiet.node(2n).lead, 1n);
  throws(() => quiet.node(2n).step(propMessage("no")), ErrProposalDropped);
});

// Goal: ReadIndex (Raft §6.4): reads are answered only after a heartbeat round confirms the
// leadership, many reads share one round, and a follower's read is forwarded.
Deno.test("ReadIndex answers after a quorum heartbeat round, batching reads", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.stepLocal(1n, propMessage("v"));
  const n1 = net.node(1n);
  net.isolate(2n);
  net.isolate(3n);
  const read = (ctx: string) =>
    newMessage({
      type: MessageType.MsgReadIndex,
      entries: [{ term: 0, index: 0, type: 0, data: new TextEncoder().encode(ctx) }],
    });
  net.stepLocal(1n, read("a"));
  net.stepLocal(1n, read("b"));
  strictEqual(n1.readStates.length, 0, "no quorum heard yet");
  net.recover();
  net.stepLocal(1n, read("c"));
  deepStrictEqual(n1.readStates.map((rs) => text.decode(rs.requestCtx)), ["a", "b", "c"]);
  for (const rs of n1.readStates) strictEqual(rs.index, n1.raftLog.committed);
  // From a follower: forwarded, answered with a MsgReadIndexResp.
  net.stepLocal(2n, read("f"));
  deepStrictEqual(net.node(2n).readStates.map((rs) => text.decode(rs.requestCtx)), ["f"]);
  strictEqual(net.node(2n).readStates[0]!.index, n1.raftLog.committed);
});

// Goal: a new leader answers reads only after committing an entry of its term.
Deno.test("ReadIndex on a new leader waits for its first commit", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.ignore(MessageType.MsgApp);
  net.stepLocal(2n, hup());
  const n2 = net.node(2n);
  strictEqual(n2.state, StateType.StateLeader);
  n2.step(newMessage({
    type: MessageType.MsgReadIndex,
    entries: [{ term: 0, index: 0, type: 0, data: new Uint8Array([1]) }],
  }));
  net.send(...readMessages(n2));
  strictEqual(n2.readStates.length, 0);
  strictEqual(n2.pendingReadIndexMessages.length, 1);
  net.recover();
  net.stepLocal(2n, beat());
  strictEqual(n2.readStates.length, 1);
  strictEqual(n2.readStates[0]!.index, n2.raftLog.committed);
});

// Goal: leader transfer (Raft thesis §3.10): the leader catches the target up and sends
// MsgTimeoutNow; proposals are refused meanwhile.
Deno.test("transferLeader hands leadership to an up-to-date follower", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.isolate(3n);
  net.stepLocal(1n, propMessage("x"));
  net.recover();
  // n3 is behind: the leader first replicates to it, then times it out.
  net.ignore(MessageType.MsgAppResp);
  net.stepLocal(1n, newMessage({ type: MessageType.MsgTransferLeader, from: 3n }));
  strictEqual(net.node(1n).leadTransferee, 3n);
  throws(() => net.node(1n).step(propMessage("refused")), ErrProposalDropped);
  net.recover();
  net.stepLocal(1n, beat());
  strictEqual(net.node(3n).state, StateType.StateLeader);
  strictEqual(net.node(1n).state, StateType.StateFollower);
  strictEqual(net.node(1n).lead, 3n);
});

// Goal: a transfer that cannot finish is abandoned after an election timeout.
Deno.test("an unfinished leader transfer is aborted after an election timeout", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  net.isolate(3n);
  net.stepLocal(1n, newMessage({ type: MessageType.MsgTransferLeader, from: 3n }));
  const n1 = net.node(1n);
  strictEqual(n1.leadTransferee, 3n);
  for (let i = 0; i < n1.electionTimeout; i++) {
    n1.tick();
    net.send(...readMessages(n1));
  }
  strictEqual(n1.leadTransferee, 0n);
  strictEqual(n1.state, StateType.StateLeader);
});

// Goal: one configuration change at a time: a second change proposed while the first is
// unapplied is replaced by an empty entry.
Deno.test("a second conf change is refused while one is pending", () => {
  const net = Network.of(3);
  net.stepLocal(1n, hup());
  const n1 = net.node(1n);
  const cc = (nodeId: bigint) =>
    newMessage({
      type: MessageType.MsgProp,
      entries: [{
        term: 0,
        index: 0,
        type: EntryType.EntryConfChange,
        data: encodeConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddLearnerNode, nodeId }),
      }],
    });
  net.stepLocal(1n, cc(4n));
  net.stepLocal(1n, cc(5n));
  const ents = n1.raftLog.slice(2, n1.raftLog.lastIndex() + 1, Number.MAX_SAFE_INTEGER)!;
  deepStrictEqual(ents.map((e) => e.type), [EntryType.EntryConfChange, EntryType.EntryNormal]);
  // Applied: the next change is accepted.
  n1.raftLog.appliedTo(n1.raftLog.committed);
  n1.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4n });
  net.stepLocal(1n, cc(5n));
  strictEqual(
    n1.raftLog.slice(n1.raftLog.lastIndex(), n1.raftLog.lastIndex() + 1, 1e9)![0]!.type,
    1,
  );
  deepStrictEqual(n1.prs.learners, [4n]);
});

// Goal: configuration changes take effect when applied: adding a learner, promoting it,
// removing a voter; a promoted learner then counts toward quorum and may campaign.
Deno.test("add learner, promote, remove: the quorum follows the applied configuration", () => {
  const r = newTestRaft(1n, { voters: [1n] });
  r.becomeCandidate();
  r.becomeLeader();
  r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2n });
  deepStrictEqual(r.prs.voters, [1n]);
  deepStrictEqual(r.prs.learners, [2n]);
  r.step(propMessage("x"));
  strictEqual(r.raftLog.committed, r.raftLog.lastIndex(), "a lone voter commits alone");
  r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: 2n });
  deepStrictEqual(r.prs.voters, [1n, 2n]);
  deepStrictEqual(r.prs.learners, []);
  r.step(propMessage("y"));
  ok(r.raftLog.committed < r.raftLog.lastIndex(), "now the second voter must ack");
  r.step(
    newMessage({
      type: MessageType.MsgAppResp,
      from: 2n,
      to: 1n,
      term: r.term,
      index: r.raftLog.lastIndex(),
    }),
  );
  strictEqual(r.raftLog.committed, r.raftLog.lastIndex());
  r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeRemoveNode, nodeId: 2n });
  deepStrictEqual(r.prs.voters, [1n]);
  ok(!r.prs.progress.has(2n));
  throws(
    () => r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeRemoveNode, nodeId: 1n }),
    /removed all voters/,
  );
});

// Goal: a follower behind the compacted log receives a snapshot, then normal replication.
Deno.test("a follower behind the compacted log is sent a snapshot and catches up", () => {
  const storage = new MemoryStorage();
  const net = new Network(
    [1n, 2n, 3n].map((id) =>
      newTestRaft(id, { voters: [1n, 2n, 3n], ...(id === 1n ? { storage } : {}) })
    ),
  );
  net.stepLocal(1n, hup());
  net.isolate(3n);
  for (let i = 0; i < 10; i++) net.stepLocal(1n, propMessage(`e${i}`));
  const n1 = net.node(1n);
  // The driver persists and compacts the leader's log up to its commit index.
  storage.append(n1.raftLog.unstableEntries());
  n1.raftLog.stableTo(n1.raftLog.lastIndex(), n1.raftLog.lastTerm());
  n1.raftLog.appliedTo(n1.raftLog.committed);
  storage.createSnapshot(
    n1.raftLog.committed,
    n1.prs.confState(),
    new TextEncoder().encode("state"),
  );
  storage.compact(n1.raftLog.committed);
  net.recover();
  net.stepLocal(1n, beat());
  ok(net.delivered.some((m) => m.type === MessageType.MsgSnap && m.to === 3n));
  const n3 = net.node(3n);
  strictEqual(n3.raftLog.committed, 11);
  strictEqual(text.decode(n3.raftLog.unstable.snapshot!.data), "state");
  // The follower's ack past the snapshot put it back into normal replication.
  strictEqual(n1.prs.progress.get(3n)!.state, ProgressState.StateReplicate);
  net.stepLocal(1n, propMessage("after"));
  strictEqual(n3.raftLog.lastIndex(), n1.raftLog.lastIndex());
  strictEqual(n3.raftLog.committed, n1.raftLog.committed);
});

// Goal: the in-flight window bounds a follower's unacknowledged MsgApp.
Deno.test("replication stops at maxInflightMsgs unacknowledged messages", () => {
  const net = Network.of(2, { maxInflightMsgs: 3, maxSizePerMsg: 1 });
  net.stepLocal(1n, hup());
  net.ignore(MessageType.MsgAppResp);
  const n1 = net.node(1n);
  for (let i = 0; i < 10; i++) net.stepLocal(1n, propMessage(`p${i}`));
  const apps = net.delivered.filter((m: Message) =>
    m.type === MessageType.MsgApp && m.entries.length > 0
  );
  const sentAfterReplicate = apps.slice(1).length;
  ok(sentAfterReplicate <= 3, `sent ${sentAfterReplicate} while the window is 3`);
  ok(n1.prs.progress.get(2n)!.inflights.full());
});

// Goal: the uncommitted size limit drops proposals once too much is uncommitted.
Deno.test("proposals beyond maxUncommittedEntriesSize are dropped", () => {
  const net = Network.of(3, { maxUncommittedEntriesSize: 10 });
  net.stepLocal(1n, hup());
  net.isolate(1n);
  const n1 = net.node(1n);
  n1.step(propMessage("0123456789"));
  throws(() => n1.step(propMessage("more")), ErrProposalDropped);
});

// Goal: ReadOnlyLeaseBased answers from the leader's lease without a heartbeat round, and it
// is refused without check-quorum (the lease depends on it).
Deno.test("lease-based ReadIndex answers at once and requires check-quorum", () => {
  const voters = [1n, 2n, 3n];
  const mk = (id: bigint) =>
    new Raft({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage: new MemoryStorage(),
      maxInflightMsgs: 16,
      checkQuorum: true,
      readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
      rand: new Xoshiro128(Number(id)),
    });
  const nodes = voters.map((id) => {
    const r = mk(id);
    r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: 1n });
    r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: 2n });
    r.applyConfChange({ id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: 3n });
    return r;
  });
  const net = new Network(nodes);
  net.stepLocal(1n, hup());
  net.isolate(2n);
  net.isolate(3n);
  const before = net.delivered.length;
  net.stepLocal(
    1n,
    newMessage({
      type: MessageType.MsgReadIndex,
      entries: [{ term: 0, index: 0, type: 0, data: new Uint8Array([9]) }],
    }),
  );
  strictEqual(net.delivered.length, before, "no heartbeat round");
  strictEqual(net.node(1n).readStates.length, 1);
  throws(
    () =>
      new Raft({
        id: 1n,
        electionTick: 10,
        heartbeatTick: 1,
        storage: new MemoryStorage(),
        maxInflightMsgs: 16,
        readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
        rand: new Xoshiro128(1),
      }),
    /CheckQuorum must be enabled/,
  );
});

// Goal: invalid configurations are refused with etcd's messages.
Deno.test("Raft refuses invalid configurations", () => {
  const base = {
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage: new MemoryStorage(),
    maxInflightMsgs: 16,
    rand: new Xoshiro128(1),
  };
  throws(() => new Raft({ ...base, id: 0n }), /cannot use none as id/);
  throws(() => new Raft({ ...base, heartbeatTick: 0 }), /heartbeat tick must be greater than 0/);
  throws(
    () => new Raft({ ...base, electionTick: 1 }),
    /election tick must be greater than heartbeat tick/,
  );
  throws(
    () => new Raft({ ...base, maxInflightMsgs: 0 }),
    /max inflight messages must be greater than 0/,
  );
});
