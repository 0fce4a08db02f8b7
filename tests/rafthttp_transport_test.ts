// Goal: detcd's peer transport carries raft messages between members as etcd's rafthttp does.
// Method: three transports in this process, each behind its own peer listener on 127.0.0.1
// (ports 23950-23969, 33010-33019), exchanging messages over real HTTP; the raft side is a
// recorder. The listener is Deno.serve's (streams as ReadableStream bodies) or, in the tests
// named "(node:http)", the one a member runs (streams written straight onto the socket).
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  encodeMessage,
  isEmptySnapshot,
  type Message,
  MessageType,
  newMessage,
  type Snapshot,
} from "../raft/mod.ts";
import {
  ERROR_MEMBER_REMOVED,
  handlePeerRequest,
  MemoryLogger,
  PeerHttpError,
  type PeerServer,
  servePlainHttp,
  SnapshotStatus,
  startPeerServer,
  Transport,
} from "../rafthttp/mod.ts";

const CLUSTER = 0xcdf818194e3a8c32n;
const FAST = {
  connReadTimeoutMs: 1500,
  connWriteTimeoutMs: 1500,
  dialRetryMs: 50,
  dialRetryMaxMs: 200,
  pipelineTimeoutMs: 1500,
};

interface Node {
  id: bigint;
  url: string;
  transport: Transport;
  server: PeerServer;
  logger: MemoryLogger;
  received: Message[];
  unreachable: bigint[];
  snapshots: { id: bigint; status: SnapshotStatus }[];
  dbs: { index: number; bytes: Uint8Array }[];
}

function startNode(
  id: bigint,
  port: number,
  clusterId = CLUSTER,
  options: { removed?: Set<bigint>; critical?: Error[]; listener?: "deno" | "node" } = {},
): Node {
  const url = `http://127.0.0.1:${port}`;
  const node = {
    id,
    url,
    logger: new MemoryLogger(),
    received: [] as Message[],
    unreachable: [] as bigint[],
    snapshots: [] as { id: bigint; status: SnapshotStatus }[],
    dbs: [] as { index: number; bytes: Uint8Array }[],
  } as Node;
  node.transport = new Transport({
    id,
    clusterId,
    urls: [url],
    logger: node.logger,
    timings: FAST,
    raft: {
      process: (m) => {
        if (options.removed?.has(m.from)) {
          throw new PeerHttpError(403, "cannot process message from removed member");
        }
        node.received.push(m);
      },
      isIdRemoved: (id) => id === 0xdeadn || options.removed?.has(id) === true,
      reportUnreachable: (to) => void node.unreachable.push(to),
      reportSnapshot: (to, status) => void node.snapshots.push({ id: to, status }),
    },
    onCriticalError: (error) => void options.critical?.push(error),
    snapshotStore: {
      saveDbFrom: async (body, index) => {
        const bytes = new Uint8Array(await new Response(body).arrayBuffer());
        node.dbs.push({ index, bytes });
        return bytes.length;
      },
    },
  });
  node.transport.start();
  if (options.listener === "node") {
    const server = servePlainHttp(
      { hostname: "127.0.0.1", port },
      (request) => handlePeerRequest(node.transport, {}, request),
    );
    node.server = { port, close: () => server.shutdown() };
  } else {
    node.server = startPeerServer({ hostname: "127.0.0.1", port, transport: node.transport });
  }
  return node;
}

async function stopNode(node: Node): Promise<void> {
  await node.transport.stop();
  await node.server.close();
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function connect(nodes: Node[]): void {
  for (const a of nodes) {
    for (const b of nodes) if (a !== b) a.transport.addPeer(b.id, [b.url]);
  }
}

function streamsUp(nodes: Node[]): boolean {
  return nodes.every((a) =>
    nodes.every((b) =>
      a === b ||
      (a.transport.peer(b.id)!.writerWorking("msgappv2") &&
        a.transport.peer(b.id)!.writerWorking("message"))
    )
  );
}

/**
 * Turns the empty snapshot the decoder fills in back into the absent one (`newMessage` leaves
 * `snapshot` undefined), so that messages compare by value.
 */
function plain(m: Message): Message {
  if (!isEmptySnapshot(m.snapshot)) return m;
  return { ...m, snapshot: undefined };
}

function append(from: bigint, to: bigint, term: number, index: number, count: number): Message {
  const entries = Array.from({ length: count }, (_, i) => ({
    term,
    index: index + 1 + i,
    type: 0 as const,
    data: new TextEncoder().encode(`entry-${index + 1 + i}`),
  }));
  return newMessage({
    type: MessageType.MsgApp,
    from,
    to,
    term,
    logTerm: term,
    index,
    entries,
    commit: index,
  });
}

for (const [listener, port] of [["deno", 23950], ["node", 33010]] as const) {
  const name = "three transports connect both streams and deliver appends and votes in order" +
    (listener === "node" ? " (node:http)" : "");
  Deno.test(name, () => threeTransports(listener, port));
}

async function threeTransports(listener: "deno" | "node", port: number): Promise<void> {
  const nodes = [1n, 2n, 3n].map((id, i) => startNode(id, port + i, CLUSTER, { listener }));
  try {
    connect(nodes);
    await waitFor("all streams", () => streamsUp(nodes));
    const [a, b, c] = nodes as [Node, Node, Node];
    // Continuing appends take msgappv2's short form; the decoded messages must be identical.
    const sent: Message[] = [];
    for (let i = 0; i < 200; i++) sent.push(append(1n, 2n, 2, i * 3, 3));
    sent.push(newMessage({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 2, commit: 9 }));
    a.transport.send(sent);
    const vote = newMessage({
      type: MessageType.MsgVote,
      from: 3n,
      to: 1n,
      term: 5,
      logTerm: 2,
      index: 600,
      context: new TextEncoder().encode("CampaignTransfer"),
    });
    c.transport.send([vote]);
    await waitFor("appends at 2", () => b.received.length === sent.length);
    await waitFor("vote at 1", () => a.received.length === 1);
    // The heartbeat took the message stream, the appends msgappv2: order holds per stream.
    deepStrictEqual(
      b.received.filter((m) => m.type === MessageType.MsgApp).map(plain),
      sent.slice(0, 200),
    );
    deepStrictEqual(plain(b.received.find((m) => m.type === MessageType.MsgHeartbeat)!), sent[200]);
    deepStrictEqual(plain(a.received[0]!), vote);
    strictEqual(a.unreachable.length, 0);
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
}

Deno.test("the pipeline carries messages before streams connect and reports MsgSnap done", async () => {
  const nodes = [startNode(1n, 23953), startNode(2n, 23954)];
  try {
    const [a, b] = nodes as [Node, Node];
    a.transport.addPeer(2n, [b.url]);
    // b does not know a yet: a's streams are refused, so everything goes by POST /raft.
    const snapshot: Snapshot = {
      data: new Uint8Array([1, 2, 3]),
      metadata: {
        confState: {
          voters: [1n, 2n],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
        index: 77,
        term: 4,
      },
    };
    const messages = [
      newMessage({ type: MessageType.MsgPreVote, from: 1n, to: 2n, term: 3, index: 5, logTerm: 1 }),
      newMessage({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 4, snapshot }),
    ];
    a.transport.send(messages);
    await waitFor("both at 2", () => b.received.length === 2);
    const byType = (t: number) => b.received.find((m) => m.type === t)!;
    deepStrictEqual(plain(byType(MessageType.MsgPreVote)), messages[0]);
    deepStrictEqual(byType(MessageType.MsgSnap), messages[1]);
    await waitFor("snapshot report", () => a.snapshots.length === 1);
    deepStrictEqual(a.snapshots, [{ id: 2n, status: SnapshotStatus.SnapshotFinish }]);
    ok(!a.transport.peer(2n)!.writerWorking("message"));
    // b learned a from the X-PeerURLs header and can answer by pipeline (etcd's remotes).
    b.transport.send([newMessage({ type: MessageType.MsgPreVoteResp, from: 2n, to: 1n, term: 3 })]);
    await waitFor("answer at 1", () => a.received.length === 1);
    ok(b.logger.has("added new remote peer"));
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
});

Deno.test("a snapshot with its db reaches the peer's store, then raft", async () => {
  const nodes = [startNode(1n, 23955), startNode(2n, 23956)];
  try {
    connect(nodes);
    const [a, b] = nodes as [Node, Node];
    const db = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < db.length; i++) db[i] = (i * 31) & 0xff;
    const message = newMessage({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 9,
      snapshot: {
        data: new Uint8Array([7]),
        metadata: {
          confState: {
            voters: [1n, 2n],
            learners: [],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
          index: 1234,
          term: 9,
        },
      },
    });
    // Streamed in 64 KiB pieces as a file would be.
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= db.length) return controller.close();
        controller.enqueue(db.slice(at, at + 65536));
        at += 65536;
      },
    });
    strictEqual(await a.transport.sendSnapshot({ message, db: body, dbBytes: db.length }), true);
    strictEqual(b.dbs.length, 1);
    strictEqual(b.dbs[0]!.index, 1234);
    deepStrictEqual(b.dbs[0]!.bytes, db);
    deepStrictEqual(b.received.filter((m) => m.type === MessageType.MsgSnap), [message]);
    deepStrictEqual(a.snapshots, [{ id: 2n, status: SnapshotStatus.SnapshotFinish }]);
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
});

Deno.test("a member of another cluster is refused with 412 and the mismatch is logged", async () => {
  const nodes = [startNode(1n, 23957), startNode(2n, 23958, 0x1234n)];
  try {
    const [a, b] = nodes as [Node, Node];
    connect(nodes);
    a.transport.send([newMessage({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 })]);
    await waitFor("mismatch logged", () => b.logger.has("request cluster ID mismatch"));
    await waitFor("sender told", () => a.logger.has("cluster ID mismatch"));
    // The raw answer, as etcd gives it.
    const response = await fetch(`${b.url}/raft`, {
      method: "POST",
      headers: {
        "X-Etcd-Cluster-ID": "1",
        "X-Server-Version": "3.4.23",
        "X-Min-Cluster-Version": "3.0.0",
      },
      body: new Uint8Array(0),
    });
    strictEqual(response.status, 412);
    strictEqual(await response.text(), "cluster ID mismatch\n");
    strictEqual(response.headers.get("X-Etcd-Cluster-ID"), "1234");
    await new Promise((resolve) => setTimeout(resolve, 200));
    strictEqual(b.received.length, 0);
    ok(!a.transport.peer(2n)!.writerWorking("message"));
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
});

Deno.test("streams refuse a wrong X-Raft-To, a removed member, and a wrong method", async () => {
  const node = startNode(1n, 23959);
  try {
    node.transport.addPeer(2n, ["http://127.0.0.1:23998"]);
    const headers = {
      "X-Etcd-Cluster-ID": CLUSTER.toString(16),
      "X-Server-Version": "3.4.23",
      "X-Min-Cluster-Version": "3.0.0",
    };
    const get = (path: string, extra: Record<string, string> = {}) =>
      fetch(node.url + path, { headers: { ...headers, ...extra } });
    let r = await get("/raft/stream/message/2", { "X-Raft-To": "9" });
    strictEqual(r.status, 412);
    strictEqual(await r.text(), "to field mismatch\n");
    r = await get("/raft/stream/message/dead", { "X-Raft-To": "1" });
    strictEqual(r.status, 410);
    strictEqual(await r.text(), "removed member\n");
    r = await get("/raft/stream/msgappv9/2", { "X-Raft-To": "1" });
    strictEqual(r.status, 404);
    strictEqual(await r.text(), "invalid path\n");
    r = await get("/raft/stream/message/7", { "X-Raft-To": "1" });
    strictEqual(r.status, 404);
    strictEqual(await r.text(), "error sender not found\n");
    r = await get("/raft");
    strictEqual(r.status, 405);
    strictEqual(r.headers.get("Allow"), "POST");
    await r.body?.cancel();
    r = await get("/raft/probing");
    strictEqual((await r.json()).OK, true);
    r = await get("/version");
    deepStrictEqual(await r.json(), { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
  } finally {
    await stopNode(node);
  }
});

for (const [listener, port] of [["deno", 23960], ["node", 33016]] as const) {
  const name = "a dead peer never holds up sending to a live one" +
    (listener === "node" ? " (node:http)" : "");
  Deno.test(name, () => deadPeer(listener, port));
}

async function deadPeer(listener: "deno" | "node", port: number): Promise<void> {
  // A black hole: accepts connections and never answers (a frozen machine).
  const hole = Deno.listen({ hostname: "127.0.0.1", port });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of hole) held.push(conn);
    } catch {
      // Closed.
    }
  })();
  const nodes = [
    startNode(1n, port + 1, CLUSTER, { listener }),
    startNode(2n, port + 2, CLUSTER, { listener }),
  ];
  try {
    const [a, b] = nodes as [Node, Node];
    connect(nodes);
    a.transport.addPeer(9n, [`http://127.0.0.1:${port}`]);
    await waitFor("streams to the live peer", () => streamsUp(nodes));
    const started = performance.now();
    const live: Message[] = [];
    for (let i = 0; i < 2000; i++) {
      live.push(append(1n, 2n, 1, i, 1));
      a.transport.send([
        newMessage({ type: MessageType.MsgHeartbeat, from: 1n, to: 9n, term: 1 }),
        live[i]!,
      ]);
    }
    const sendMs = performance.now() - started;
    ok(sendMs < 1000, `send() returned after ${sendMs.toFixed(0)} ms`);
    await waitFor("every append at the live peer", () => b.received.length === live.length, 10000);
    deepStrictEqual(b.received.map(plain), live);
    // The dead peer's pipeline filled up: the rest was dropped and reported, not queued.
    ok(a.unreachable.filter((id) => id === 9n).length >= 2000 - 64 - 4);
    strictEqual(a.unreachable.filter((id) => id === 2n).length, 0);
  } finally {
    await Promise.all(nodes.map(stopNode));
    hole.close();
    for (const conn of held) conn.close();
    await accepting;
  }
}

for (const [listener, port] of [["deno", 23963], ["node", 33013]] as const) {
  const name = "streams notice a frozen link, then reconnect when it heals" +
    (listener === "node" ? " (node:http)" : "");
  Deno.test(name, () => frozenLink(listener, port));
}

async function frozenLink(listener: "deno" | "node", port: number): Promise<void> {
  const { TcpProxy } = await import("./rafthttp_tcp_proxy.ts");
  const nodes = [
    startNode(1n, port, CLUSTER, { listener }),
    startNode(2n, port + 1, CLUSTER, { listener }),
  ];
  // Member 2 reaches member 1 only through the proxy, so 1's writers to 2 cross it.
  const proxy = new TcpProxy(port + 2, port);
  try {
    const [a, b] = nodes as [Node, Node];
    a.transport.addPeer(2n, [b.url]);
    b.transport.addPeer(1n, [`http://127.0.0.1:${port + 2}`]);
    await waitFor("streams", () => streamsUp(nodes));
    a.transport.send([append(1n, 2n, 1, 0, 1)]);
    await waitFor("first append", () => b.received.length === 1);
    const lostBefore = b.logger.records.filter((r) => r.msg.includes("lost TCP")).length;
    proxy.freeze();
    // No heartbeat crosses: 2's readers time out (1.5 s here) and redial, which hangs.
    await waitFor(
      "2 lost its streams",
      () => b.logger.records.filter((r) => r.msg.includes("lost TCP")).length > lostBefore,
      4000,
    );
    proxy.cut();
    proxy.heal();
    await waitFor("streams again", () => streamsUp(nodes), 5000);
    // A message written just before member 1 noticed the dead connection is lost with it, as
    // in etcd; raft sends again, and so does this test.
    const next = append(1n, 2n, 1, 1, 1);
    const resend = setInterval(() => {
      if (b.received.length < 2) a.transport.send([next]);
    }, 200);
    try {
      a.transport.send([next]);
      await waitFor("append after healing", () => b.received.length >= 2, 5000);
    } finally {
      clearInterval(resend);
    }
    deepStrictEqual(plain(b.received[1]!), next);
  } finally {
    await Promise.all(nodes.map(stopNode));
    await proxy.close();
  }
}

Deno.test("a removed member hears it from streams (410) and pipeline (403) as a critical error", async () => {
  const removed = new Set([2n]);
  const critical: Error[] = [];
  const nodes = [
    startNode(1n, 23966, CLUSTER, { removed }),
    startNode(2n, 23967, CLUSTER, { critical }),
  ];
  try {
    const [a, b] = nodes as [Node, Node];
    connect(nodes);
    await waitFor("member 2 told it was removed", () => critical.length === 1);
    strictEqual(critical[0]!.message, ERROR_MEMBER_REMOVED);
    ok(a.logger.has("rejected stream from remote peer because it was removed"));
    // The pipeline path: a message from the removed member is refused with 403.
    const response = await fetch(`${a.url}/raft`, {
      method: "POST",
      headers: {
        "X-Etcd-Cluster-ID": CLUSTER.toString(16),
        "X-Server-Version": "3.4.23",
        "X-Min-Cluster-Version": "3.0.0",
      },
      body: encodeMessage(
        newMessage({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: 1 }),
      ) as Uint8Array<ArrayBuffer>,
    });
    strictEqual(response.status, 403);
    deepStrictEqual(await response.json(), {
      message: "cannot process message from removed member",
    });
    strictEqual(a.received.length, 0);
    strictEqual(b.received.length, 0);
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
});

Deno.test("updatePeer moves the streams to the peer's new URL; removePeer closes them", async () => {
  let nodes = [startNode(1n, 23968), startNode(2n, 23969)];
  try {
    connect(nodes);
    await waitFor("streams", () => streamsUp(nodes));
    // Member 2 comes back on another port.
    await stopNode(nodes[1]!);
    const moved = startNode(2n, 23978);
    nodes = [nodes[0]!, moved];
    moved.transport.addPeer(1n, [nodes[0]!.url]);
    nodes[0]!.transport.updatePeer(2n, [moved.url]);
    await waitFor("streams to the new URL", () => streamsUp(nodes), 5000);
    nodes[0]!.transport.send([append(1n, 2n, 1, 0, 2)]);
    await waitFor("append at the moved member", () => moved.received.length === 1);
    await nodes[0]!.transport.removePeer(2n);
    strictEqual(nodes[0]!.transport.peer(2n), undefined);
    await waitFor("2 lost its streams", () => !moved.transport.peer(1n)!.writerWorking("message"));
  } finally {
    await Promise.all(nodes.map(stopNode));
  }
});
