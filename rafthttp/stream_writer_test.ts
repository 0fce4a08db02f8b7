// Goal: the stream writer sends what raft queued in one turn as one HTTP chunk straight onto the
// socket when the server takes the direct body, holds chunks while the socket is above its mark,
// drops a peer that stops reading, and still serves a `ReadableStream` server.
// Method: a StreamWriter with a recording transport context and a fake socket (ChunkedSink);
// the bytes written are parsed back as HTTP chunks and decoded with the stream's own codec.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { isEmptySnapshot, type Message, MessageType, newMessage } from "../raft/mod.ts";
import { ByteQueue } from "./byte_queue.ts";
import { type ChunkedSink, type ChunkedSinkEvents, directBodyOf } from "./direct_body.ts";
import { MemoryLogger } from "./logger.ts";
import { decodeMessageFrame } from "./msg_codec.ts";
import { MsgAppV2Decoder } from "./msgappv2_codec.ts";
import { PeerClient } from "./peer_client.ts";
import { PeerStatus } from "./peer_status.ts";
import { StreamWriter } from "./stream_writer.ts";
import { DEFAULT_TIMINGS, type TransportContext } from "./transport_types.ts";

const LOCAL = 1n;
const PEER = 2n;

interface Recorder {
  context: TransportContext;
  unreachable: bigint[];
  sends: (number | undefined)[];
}

function recorder(timings: Partial<TransportContext["timings"]> = {}): Recorder {
  const unreachable: bigint[] = [];
  const sends: (number | undefined)[] = [];
  const context: TransportContext = {
    id: LOCAL,
    clusterId: 7n,
    urls: ["http://127.0.0.1:1"],
    raft: {
      process: () => {},
      isIdRemoved: () => false,
      reportUnreachable: (id) => void unreachable.push(id),
      reportSnapshot: () => {},
    },
    logger: new MemoryLogger(),
    timings: { ...DEFAULT_TIMINGS, ...timings },
    peerClient: new PeerClient(),
    reportCriticalError: () => {},
    addRemote: () => {},
    reportSend: (_id, latencyMs) => void sends.push(latencyMs),
  };
  return { context, unreachable, sends };
}

/** A socket that records writes and answers `full` to each. */
class FakeSocket implements ChunkedSink {
  writes: Uint8Array[] = [];
  full = false;
  ended = 0;
  destroyed = 0;
  write(bytes: Uint8Array): boolean {
    this.writes.push(bytes);
    return !this.full;
  }
  end(): void {
    this.ended++;
  }
  destroy(): void {
    this.destroyed++;
  }
}

/** The payloads of whole HTTP/1.1 chunks in `bytes` (which holds nothing else). */
function parseChunks(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    let lineEnd = at;
    while (bytes[lineEnd] !== 0x0d) lineEnd++;
    const size = parseInt(new TextDecoder().decode(bytes.subarray(at, lineEnd)), 16);
    strictEqual(bytes[lineEnd + 1], 0x0a);
    const start = lineEnd + 2;
    chunks.push(bytes.subarray(start, start + size));
    strictEqual(bytes[start + size], 0x0d);
    strictEqual(bytes[start + size + 1], 0x0a);
    at = start + size + 2;
  }
  return chunks;
}

function heartbeat(commit: number): Message {
  return newMessage({ type: MessageType.MsgHeartbeat, from: LOCAL, to: PEER, term: 3, commit });
}

function append(index: number): Message {
  return newMessage({
    type: MessageType.MsgApp,
    from: LOCAL,
    to: PEER,
    term: 3,
    logTerm: 3,
    index,
    commit: index,
    entries: [{ term: 3, index: index + 1, type: 0, data: new Uint8Array([index & 0xff]) }],
  });
}

function decodeFrames(payload: Uint8Array): Message[] {
  const queue = new ByteQueue();
  queue.push(payload);
  const messages: Message[] = [];
  for (let m = decodeMessageFrame(queue); m !== undefined; m = decodeMessageFrame(queue)) {
    messages.push(_plain(m));
  }
  strictEqual(queue.length, 0);
  return messages;
}

function _plain(m: Message): Message {
  if (!isEmptySnapshot(m.snapshot)) return m;
  return { ...m, snapshot: undefined };
}

function attachDirect(
  writer: StreamWriter,
  type: "message" | "msgappv2",
): { socket: FakeSocket; events: ChunkedSinkEvents; body: ReadableStream<Uint8Array> } {
  const body = writer.attach(type);
  const direct = directBodyOf(body);
  ok(direct !== undefined, "the writer offers a direct body");
  strictEqual(directBodyOf(body), undefined, "a direct body is taken once");
  const socket = new FakeSocket();
  return { socket, events: direct(socket), body };
}

const _turn = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("messages queued in one turn leave as one chunk straight on the socket", async () => {
  const { context } = recorder();
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const { socket } = attachDirect(writer, "message");
    const sent = [heartbeat(1), heartbeat(2), heartbeat(3)];
    for (const m of sent) ok(writer.send(m));
    strictEqual(socket.writes.length, 0, "nothing is written inside the sending turn");
    await Promise.resolve();
    strictEqual(socket.writes.length, 1);
    const chunks = parseChunks(socket.writes[0]!);
    strictEqual(chunks.length, 1);
    deepStrictEqual(decodeFrames(chunks[0]!), sent);
    strictEqual(writer.queued, 0);
  } finally {
    writer.stop();
  }
});

Deno.test("msgappv2 appends go out framed as etcd's decoder reads them", async () => {
  const { context, sends } = recorder();
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const { socket } = attachDirect(writer, "msgappv2");
    const sent = [append(0), append(1), append(2)];
    for (const m of sent) writer.send(m);
    await _turn();
    writer.send(append(3));
    await _turn();
    strictEqual(socket.writes.length, 2);
    const decoder = new MsgAppV2Decoder(PEER, LOCAL);
    const queue = new ByteQueue();
    for (const write of socket.writes) for (const chunk of parseChunks(write)) queue.push(chunk);
    const got: Message[] = [];
    for (let m = decoder.decode(queue); m !== undefined; m = decoder.decode(queue)) got.push(m);
    deepStrictEqual(got.map((m) => [m.type, m.index, m.entries[0]!.index]), [
      [MessageType.MsgApp, 0, 1],
      [MessageType.MsgApp, 1, 2],
      [MessageType.MsgApp, 2, 3],
      [MessageType.MsgApp, 3, 4],
    ]);
    strictEqual(sends.length, 4, "each MsgApp's write is reported (FollowerStats)");
  } finally {
    writer.stop();
  }
});

Deno.test("a socket above its mark holds further chunks until it drains", async () => {
  const { context } = recorder();
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const { socket, events } = attachDirect(writer, "message");
    socket.full = true;
    writer.send(heartbeat(1));
    await _turn();
    strictEqual(socket.writes.length, 1);
    writer.send(heartbeat(2));
    writer.send(heartbeat(3));
    await _turn();
    strictEqual(socket.writes.length, 1, "no write while the socket is full");
    strictEqual(writer.queued, 2);
    socket.full = false;
    events.onDrain();
    strictEqual(socket.writes.length, 2);
    deepStrictEqual(decodeFrames(parseChunks(socket.writes[1]!)[0]!), [heartbeat(2), heartbeat(3)]);
  } finally {
    writer.stop();
  }
});

Deno.test("a peer that stops reading is dropped after the write timeout", async () => {
  const { context, unreachable } = recorder({ connReadTimeoutMs: 30, connWriteTimeoutMs: 60 });
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const { socket } = attachDirect(writer, "message");
    socket.full = true;
    writer.send(heartbeat(1));
    await _turn();
    writer.send(heartbeat(2));
    const deadline = performance.now() + 2000;
    while (writer.working && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    ok(!writer.working, "the stalled connection was dropped");
    strictEqual(socket.destroyed, 1);
    deepStrictEqual(unreachable, [PEER], "the message left queued is reported");
    strictEqual(writer.send(heartbeat(3)), false, "no connection: sends are refused");
  } finally {
    writer.stop();
  }
});

Deno.test("an idle stream gets link heartbeats; closing it ends the body", async () => {
  const { context } = recorder({ connReadTimeoutMs: 30, connWriteTimeoutMs: 1000 });
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  const { socket } = attachDirect(writer, "msgappv2");
  await new Promise((resolve) => setTimeout(resolve, 60));
  ok(socket.writes.length >= 1, "a heartbeat went out");
  // A msgappv2 link heartbeat is the one type byte 0.
  deepStrictEqual([...parseChunks(socket.writes[0]!)[0]!], [0]);
  ok(writer.closeConnection("test"));
  strictEqual(socket.ended, 1);
  ok(!writer.working);
  writer.stop();
  strictEqual(socket.ended, 1, "ended once");
});

Deno.test("the peer closing the connection detaches the writer", async () => {
  const { context, unreachable } = recorder();
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const { socket, events } = attachDirect(writer, "message");
    socket.full = true;
    writer.send(heartbeat(1));
    await _turn();
    writer.send(heartbeat(2));
    events.onClose();
    ok(!writer.working);
    deepStrictEqual(unreachable, [PEER]);
    strictEqual(socket.ended + socket.destroyed, 0, "the server owns a closed socket");
  } finally {
    writer.stop();
  }
});

Deno.test("a new connection replaces the old one, whose body ends", () => {
  const { context } = recorder();
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const first = attachDirect(writer, "message");
    const second = attachDirect(writer, "message");
    strictEqual(first.socket.ended, 1);
    strictEqual(second.socket.ended, 0);
    ok(writer.working);
  } finally {
    writer.stop();
  }
});

Deno.test("without a direct taker the body is a ReadableStream of the same messages", async () => {
  const { context } = recorder();
  const writer = new StreamWriter(context, PEER, new PeerStatus(context.logger, LOCAL, PEER));
  try {
    const body = writer.attach("message");
    const sent = [heartbeat(1), heartbeat(2)];
    for (const m of sent) writer.send(m);
    const reader = body.getReader();
    const first = await reader.read();
    ok(!first.done);
    deepStrictEqual(decodeFrames(first.value), sent);
    writer.send(heartbeat(3));
    const second = await reader.read();
    ok(!second.done);
    deepStrictEqual(decodeFrames(second.value), [heartbeat(3)]);
    strictEqual(directBodyOf(body), undefined, "a body already read offers no direct writer");
    writer.closeConnection("test");
    strictEqual((await reader.read()).done, true);
  } finally {
    writer.stop();
  }
});
