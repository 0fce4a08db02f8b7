// Goal: detcd's transport speaks etcd 3.4's peer protocol well enough for a real etcd to treat
// it as a member. Method: an --initial-cluster where some members are the real /usr/bin/etcd and
// one is our Transport driven by a minimal scripted follower (it grants votes, acknowledges
// appends that fit its log and refuses those that do not). The real etcd must dial our streams,
// send us votes, appends and heartbeats that we decode, elect itself with our vote, and commit
// a client write with our acknowledgement (it can only if it decoded our replies); it must
// accept our snapshot POST body; and when we fall behind its compacted log it must send us its
// db on /raft/snapshot, which etcdctl then opens.
import { ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { type Message, MessageType, messageTypeName, newMessage } from "../raft/mod.ts";
import {
  handlePeerRequest,
  MemoryLogger,
  servePlainHttp,
  startPeerServer,
  Transport,
} from "../rafthttp/mod.ts";
import { computeClusterId, computeMemberId } from "../ids/mod.ts";

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
  /** While true, every message is ignored (a member that is down). */
  silent = false;
  transport!: Transport;

  constructor(readonly id: bigint) {}

  process(m: Message): void {
    if (this.silent) return;
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
        if (m.index > this.lastIndex) {
          // A gap: refuse, hinting at our last index (raft §5.3), as a follower must.
          reply({
            type: MessageType.MsgAppResp,
            index: m.index,
            reject: true,
            rejectHint: this.lastIndex,
          });
          break;
        }
        const last = m.entries[m.entries.length - 1];
        if (last !== undefined) this.lastIndex = Math.max(this.lastIndex, last.index);
        reply({ type: MessageType.MsgAppResp, index: last?.index ?? m.index });
        break;
      }
      case MessageType.MsgSnap: {
        this.lastIndex = m.snapshot!.metadata.index;
        reply({ type: MessageType.MsgAppResp, index: this.lastIndex });
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
    // The listener a member runs (node:http, whose streams write straight onto the socket);
    // the second test below keeps Deno.serve's.
    const listener = servePlainHttp(
      { hostname: "127.0.0.1", port: 23971 },
      (request) => handlePeerRequest(transport, {}, request),
    );
    await listener.listening;
    const server = { close: () => listener.shutdown() };
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
      // Our snapshot sender's body is what etcd's /raft/snapshot handler expects: it splits
      // the framed MsgSnap from the db and saves the db as member/snap/<index>.snap.db. (The
      // message carries a stale term, so etcd's raft then ignores it and answers 204.)
      const db = new Uint8Array(1024 * 1024 + 3);
      for (let i = 0; i < db.length; i++) db[i] = (i * 131 + 7) & 0xff;
      const snapshotIndex = 0xabcdef;
      const sent = await transport.sendSnapshot({
        message: newMessage({
          type: MessageType.MsgSnap,
          from: ourId,
          to: etcdId,
          term: 1,
          snapshot: {
            data: new Uint8Array(0),
            metadata: {
              confState: {
                voters: [etcdId, ourId],
                learners: [],
                votersOutgoing: [],
                learnersNext: [],
                autoLeave: false,
              },
              index: snapshotIndex,
              term: 1,
            },
          },
        }),
        db,
      });
      strictEqual(sent, true);
      const savedDb = await Deno.readFile(
        `${dataDir}/member/snap/${snapshotIndex.toString(16).padStart(16, "0")}.snap.db`,
      );
      ok(
        savedDb.length === db.length && savedDb.every((byte, i) => byte === db[i]),
        "db saved intact",
      );
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

function startEtcd(
  options: {
    name: string;
    dataDir: string;
    peer: string;
    client: string;
    cluster: string;
    extra?: string[];
  },
): Deno.ChildProcess {
  return new Deno.Command(ETCD, {
    args: [
      `--name=${options.name}`,
      `--data-dir=${options.dataDir}`,
      `--listen-peer-urls=${options.peer}`,
      `--initial-advertise-peer-urls=${options.peer}`,
      `--listen-client-urls=${options.client}`,
      `--advertise-client-urls=${options.client}`,
      `--initial-cluster=${options.cluster}`,
      `--initial-cluster-token=${TOKEN}`,
      "--initial-cluster-state=new",
      "--heartbeat-interval=50",
      "--election-timeout=500",
      ...(options.extra ?? []),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test({
  name: "a real etcd leader sends us its db snapshot when we are behind its compacted log",
  ignore: !(await Deno.stat(ETCD).then(() => true, () => false)),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Method: members etcd0 and etcd1 are real, detcd2 is ours and silent while the two commit
    // more than etcd's 5000 catch-up entries with --snapshot-count=100, so the leader compacts
    // its log. Then we answer: our refusal of its appends (hint: index 2) leaves it nothing to
    // send but a snapshot, which must arrive on /raft/snapshot with a db that etcdctl opens.
    const peers = ["http://127.0.0.1:23973", "http://127.0.0.1:23974", "http://127.0.0.1:23975"];
    const clientUrls = ["http://127.0.0.1:23976", "http://127.0.0.1:23977"];
    const ids = peers.map((url) => computeMemberId([url], TOKEN));
    const clusterId = computeClusterId(ids);
    const ourId = ids[2]!;
    const follower = new ScriptedFollower(ourId);
    follower.silent = true;
    const saved: { index: number; path: string; bytes: number }[] = [];
    const workDir = await Deno.makeTempDir({ prefix: "detcd-interop-snap-" });
    const transport = new Transport({
      id: ourId,
      clusterId,
      urls: [peers[2]!],
      logger: new MemoryLogger(),
      raft: {
        process: (m) => follower.process(m),
        isIdRemoved: () => false,
        reportUnreachable: () => {},
        reportSnapshot: () => {},
      },
      snapshotStore: {
        saveDbFrom: async (body, index) => {
          const path = `${workDir}/received-${index}.db`;
          const file = await Deno.open(path, { write: true, create: true, truncate: true });
          let bytes = 0;
          await body.pipeThrough(
            new TransformStream({
              transform: (chunk, controller) => {
                bytes += chunk.length;
                controller.enqueue(chunk);
              },
            }),
          ).pipeTo(file.writable);
          saved.push({ index, path, bytes });
          return bytes;
        },
      },
    });
    follower.transport = transport;
    transport.start();
    const server = startPeerServer({ hostname: "127.0.0.1", port: 23975, transport });
    transport.addPeer(ids[0]!, [peers[0]!]);
    transport.addPeer(ids[1]!, [peers[1]!]);
    const cluster = peers.map((url, i) => `${i < 2 ? "etcd" : "detcd"}${i}=${url}`).join(",");
    const etcds = [0, 1].map((i) =>
      startEtcd({
        name: `etcd${i}`,
        dataDir: `${workDir}/etcd${i}`,
        peer: peers[i]!,
        client: clientUrls[i]!,
        cluster,
        extra: ["--snapshot-count=100"],
      })
    );
    const clients = Array.from(
      { length: 8 },
      (_, i) => new EtcdGrpcClient(clientUrls[i % 2]!.slice(7)),
    );
    try {
      const encoder = new TextEncoder();
      const deadline = performance.now() + 20_000;
      while (true) {
        try {
          await clients[0]!.unary(METHODS.KV.Put, {
            key: encoder.encode("ready"),
            value: encoder.encode("1"),
          }, {
            timeoutMs: 1000,
          });
          break;
        } catch (error) {
          if (performance.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      // 5200 more entries, 64 at a time.
      let next = 0;
      const worker = async (w: number) => {
        while (next < 5200) {
          const n = next++;
          await clients[w % clients.length]!.unary(METHODS.KV.Put, {
            key: encoder.encode(`key-${n}`),
            value: encoder.encode(`value-${n}`),
          }, { timeoutMs: 5000 });
        }
      };
      await Promise.all(Array.from({ length: 64 }, (_, w) => worker(w)));
      follower.silent = false;
      await waitFor("a db snapshot", () => saved.length > 0, 20_000);
      await waitFor(
        "the MsgSnap processed",
        () => follower.received.some((m) => m.type === MessageType.MsgSnap),
        5000,
      );
      const snap = follower.received.find((m) => m.type === MessageType.MsgSnap)!;
      ok(snap.snapshot!.metadata.index > 5000, `snapshot index ${snap.snapshot!.metadata.index}`);
      strictEqual(saved[0]!.index, snap.snapshot!.metadata.index);
      strictEqual(snap.snapshot!.metadata.confState.voters.length, 3);
      // The db we received is a whole etcd database.
      const status = await new Deno.Command(ETCDCTL, {
        args: ["snapshot", "status", saved[0]!.path, "--write-out=json"],
        env: { ETCDCTL_API: "3" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(status.stdout);
      ok(status.success, text + new TextDecoder().decode(status.stderr));
      const parsed = JSON.parse(text) as { revision: number; totalKey: number };
      ok(parsed.totalKey >= 5200, text);
      // After the snapshot the leader goes on appending to us from its index.
      const before = follower.lastIndex;
      await clients[0]!.unary(METHODS.KV.Put, {
        key: encoder.encode("after"),
        value: encoder.encode("1"),
      }, {
        timeoutMs: 5000,
      });
      await waitFor("appends after the snapshot", () => follower.lastIndex > before, 5000);
    } finally {
      for (const client of clients) client.close();
      for (const etcd of etcds) {
        try {
          etcd.kill("SIGKILL");
        } catch {
          // Already gone.
        }
        await etcd.status;
      }
      await transport.stop();
      await server.close();
      await Deno.remove(workDir, { recursive: true });
    }
  },
});
