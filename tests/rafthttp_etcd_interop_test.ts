// Goal: detcd's transport speaks etcd 3.4's peer protocol well enough for a real etcd to treat
// it as a member. Method: a 2-member --initial-cluster where member "etcd0" is the real
// /usr/bin/etcd and member "detcd1" is our Transport driven by a minimal scripted follower (it
// grants votes and acknowledges appends). The real etcd must dial our streams, send us votes,
// appends and heartbeats that we decode, elect itself with our vote, and commit a client write
// with our acknowledgement, which it can only do if it decoded our replies.
import { ok, strictEqual } from "node:assert/strict";
import { type Message, MessageType, messageTypeName, newMessage } from "../raft/raftpb.ts";
import { MemoryLogger, startPeerServer, Transport } from "../rafthttp/mod.ts";
import { computeClusterId, computeMemberId } from "../server/ids.ts";

const ETCD = "/usr/bin/etcd";
const ETCDCTL = "/usr/bin/etcdctl";
const ETCD_PEER = "http://127.0.0.1:23970";
const OUR_PEER = "http://127.0.0.1:23971";
const ETCD_CLIENT = "http://127.0.0.1:23972";
const TOKEN = "detcd-rafthttp-interop";

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A follower that only does what a correct follower must to keep a leader going. */
class ScriptedFollower {
  term = 0;
  vote = 0n;
  lastIndex = 2; // the two bootstrap ConfChange entries, as etcd writes them
  readonly received: Message[] = [];
  transport!: Transport;

  constructor(readonly id: bigint) {}

  process(m: Message): void {
    this.received.push(m);
    if (m.term > this.term) {
      this.term = m.term;
      this.vote = 0n;
    }
    const reply = (fields: Partial<Message> & { type: Message["type"] }) =>
      this.transport.send([newMessage({ from: this.id, to: m.from, term: this.term, ...fields })]);
    switch (m.type) {
      case MessageType.MsgPreVote:
        reply({ type: MessageType.MsgPreVoteResp, term: m.term });
        break;
      case MessageType.MsgVote: {
        const grant = m.term >= this.term && (this.vote === 0n || this.vote === m.from);
        if (grant) this.vote = m.from;
        reply({ type: MessageType.MsgVoteResp, reject: !grant });
        break;
      }
      case MessageType.MsgApp: {
        const last = m.entries[m.entries.length - 1];
        if (last !== undefined) this.lastIndex = Math.max(this.lastIndex, last.index);
        reply({ type: MessageType.MsgAppResp, index: last?.index ?? m.index });
        break;
      }
      case MessageType.MsgHeartbeat:
        reply({ type: MessageType.MsgHeartbeatResp, context: m.context });
        break;
    }
  }
}

Deno.test({
  name: "a real etcd 3.4 elects itself with our vote and commits with our acknowledgements",
  ignore: !(await Deno.stat(ETCD).then(() => true, () => false)),
  async fn() {
    const etcdId = computeMemberId([ETCD_PEER], TOKEN);
    const ourId = computeMemberId([OUR_PEER], TOKEN);
    const clusterId = computeClusterId([etcdId, ourId]);
    const follower = new ScriptedFollower(ourId);
    const logger = new MemoryLogger();
    const transport = new Transport({
      id: ourId,
      clusterId,
      urls: [OUR_PEER],
      logger,
      raft: {
        process: (m) => follower.process(m),
        isIdRemoved: () => false,
        reportUnreachable: () => {},
        reportSnapshot: () => {},
      },
    });
    follower.transport = transport;
    transport.start();
    const server = startPeerServer({ hostname: "127.0.0.1", port: 23971, transport });
    transport.addPeer(etcdId, [ETCD_PEER]);
    const dataDir = await Deno.makeTempDir({ prefix: "detcd-interop-" });
    const etcd = new Deno.Command(ETCD, {
      args: [
        "--name=etcd0",
        `--data-dir=${dataDir}`,
        `--listen-peer-urls=${ETCD_PEER}`,
        `--initial-advertise-peer-urls=${ETCD_PEER}`,
        `--listen-client-urls=${ETCD_CLIENT}`,
        `--advertise-client-urls=${ETCD_CLIENT}`,
        `--initial-cluster=etcd0=${ETCD_PEER},detcd1=${OUR_PEER}`,
        `--initial-cluster-token=${TOKEN}`,
        "--initial-cluster-state=new",
        "--heartbeat-interval=50",
        "--election-timeout=500",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let etcdLog = "";
    const logDone = (async () => {
      for await (const chunk of etcd.stderr.pipeThrough(new TextDecoderStream())) etcdLog += chunk;
    })();
    try {
      // etcd dials both of our streams and we dial both of its.
      await waitFor(
        "etcd's streams to us",
        () =>
          transport.peer(etcdId)!.writerWorking("msgappv2") &&
          transport.peer(etcdId)!.writerWorking("message"),
        15000,
      );
      await waitFor(
        "a vote request",
        () => follower.received.some((m) => m.type === MessageType.MsgVote),
        15000,
      );
      const vote = follower.received.find((m) => m.type === MessageType.MsgVote)!;
      strictEqual(vote.from, etcdId);
      strictEqual(vote.to, ourId);
      strictEqual(vote.logTerm, 1);
      strictEqual(vote.index, 2);
      // With our vote it leads and appends; heartbeats follow.
      await waitFor(
        "appends and heartbeats",
        () =>
          follower.received.some((m) => m.type === MessageType.MsgApp && m.entries.length > 0) &&
          follower.received.some((m) => m.type === MessageType.MsgHeartbeat),
        10000,
      );
      // A client write commits only with our MsgAppResp: etcd accepted our messages.
      const put = await new Deno.Command(ETCDCTL, {
        args: [`--endpoints=${ETCD_CLIENT}`, "--command-timeout=5s", "put", "interop", "works"],
        env: { ETCDCTL_API: "3" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const putOut = new TextDecoder().decode(put.stdout) + new TextDecoder().decode(put.stderr);
      strictEqual(putOut.trim(), "OK", putOut);
      // The put's entry reached us through the msgappv2 stream or the pipeline, decoded.
      const types = new Set(follower.received.map((m) => messageTypeName(m.type)));
      ok(
        types.has("MsgApp") && types.has("MsgHeartbeat") && types.has("MsgVote"),
        [...types].join(),
      );
      ok(follower.lastIndex >= 4, `last index ${follower.lastIndex}`);
      ok(!etcdLog.includes("cluster ID mismatch"), "etcd saw a cluster ID mismatch");
      // etcd answers a request from another cluster exactly as our handler does.
      const refused = await fetch(`${ETCD_PEER}/raft`, {
        method: "POST",
        headers: {
          "X-Etcd-Cluster-ID": "1",
          "X-Server-From": ourId.toString(16),
          "X-Server-Version": "3.4.23",
          "X-Min-Cluster-Version": "3.0.0",
        },
        body: new Uint8Array(0),
      });
      strictEqual(refused.status, 412);
      strictEqual(await refused.text(), "cluster ID mismatch\n");
      strictEqual(refused.headers.get("X-Etcd-Cluster-ID"), clusterId.toString(16));
      ok(!logger.has("cluster ID mismatch"));
    } finally {
      try {
        etcd.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await etcd.status;
      await logDone;
      await transport.stop();
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
