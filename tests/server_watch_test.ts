/**
 * The Watch service over gRPC, in-process.
 *
 * Goal: the stream semantics of etcd's v3rpc/watch.go: created and canceled notices with
 * their IDs, history from a start revision, prev_kv, NOPUT/NODELETE filters, several
 * watchers on one stream, fragmenting of a response over --max-request-bytes, progress
 * requests, and the compacted cancellation with `compact_revision`.
 * Method: one member with a small --max-request-bytes; responses read from the stream in
 * order and compared field by field.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { longToNumber, numberToLong } from "../etcdserverpb/mod.ts";
import { createLogger } from "../server/log.ts";
import { startEtcd } from "../embed/mod.ts";
import { singleMemberConfig } from "./_member_config.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
const k = (s: string) => _encoder.encode(s);

type WatchResponse = etcdserverpb.WatchResponse;

/** Reads responses from a watch stream one at a time. */
class _Reader {
  readonly #iterator: AsyncIterator<WatchResponse>;
  constructor(responses: AsyncIterable<WatchResponse>) {
    this.#iterator = responses[Symbol.asyncIterator]();
  }
  async next(): Promise<WatchResponse> {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("no watch response within 5 s")), 5000)
    );
    const { value, done } = await Promise.race([this.#iterator.next(), timeout]);
    if (done) throw new Error("watch stream ended");
    return value;
  }
}

function _events(r: WatchResponse): string[] {
  return (r.events ?? []).map((e) => {
    const type = e.type === 1 ? "DELETE" : "PUT";
    const prev = e.prevKv ? ` (prev ${_decoder.decode(e.prevKv.value ?? undefined)})` : "";
    return `${type} ${_decoder.decode(e.kv?.key ?? undefined)}=${
      _decoder.decode(e.kv?.value ?? undefined)
    }${prev}`;
  });
}

Deno.test({
  name: "watch stream: history, prev_kv, filters, many watchers, fragments, progress, compaction",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_watch_" });
    const cfg = singleMemberConfig({ name: "w", dataDir, clientPort: 23936, peerPort: 23937 });
    cfg.maxRequestBytes = 4096;
    const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
    const server = await startEtcd(cfg, log);
    const c = new EtcdGrpcClient(server.clientAddrs[0]!);
    const put = (key: string, value: string) =>
      c.unary(METHODS.KV.Put, { key: k(key), value: k(value) });
    try {
      await put("a", "1"); // rev 2
      await put("b", "2"); // rev 3
      await c.unary(METHODS.KV.DeleteRange, { key: k("a") }); // rev 4
      const call = c.bidi(METHODS.Watch.Watch);
      const reader = new _Reader(call.responses);

      // History from revision 2 over a prefix, with prev_kv.
      call.send({
        createRequest: {
          key: k("a"),
          rangeEnd: k("c"),
          startRevision: numberToLong(2),
          prevKv: true,
        },
      });
      const created = await reader.next();
      strictEqual(created.created, true);
      const historyId = longToNumber(created.watchId);
      strictEqual(longToNumber(created.header?.revision ?? 0), 4);
      const history = await reader.next();
      strictEqual(longToNumber(history.watchId), historyId);
      deepStrictEqual(_events(history), ["PUT a=1", "PUT b=2", "DELETE a= (prev 1)"]);

      // A second watcher on the same stream, puts filtered out.
      const NOPUT = etcdserverpb.WatchCreateRequest.FilterType.NOPUT;
      call.send({ createRequest: { key: k("b"), filters: [NOPUT], watchId: numberToLong(7) } });
      const created2 = await reader.next();
      strictEqual(longToNumber(created2.watchId), 7);
      await put("b", "3"); // rev 5: only the history watcher sees it
      await c.unary(METHODS.KV.DeleteRange, { key: k("b") }); // rev 6
      const seen = new Map<number, string[]>();
      while ((seen.get(historyId)?.length ?? 0) < 2 || !seen.has(7)) {
        const r = await reader.next();
        const id = longToNumber(r.watchId);
        seen.set(id, [...(seen.get(id) ?? []), ..._events(r)]);
      }
      deepStrictEqual(seen.get(historyId), ["PUT b=3 (prev 2)", "DELETE b= (prev 3)"]);
      deepStrictEqual(seen.get(7), ["DELETE b="]);

      // Cancel one; a duplicate ID is refused with a canceled "created" response.
      call.send({ cancelRequest: { watchId: numberToLong(7) } });
      const canceled = await reader.next();
      strictEqual(canceled.canceled, true);
      strictEqual(longToNumber(canceled.watchId), 7);
      call.send({ createRequest: { key: k("x"), watchId: numberToLong(9) } });
      strictEqual(longToNumber((await reader.next()).watchId), 9);
      call.send({ createRequest: { key: k("y"), watchId: numberToLong(9) } });
      const refused = await reader.next();
      strictEqual(refused.created, true);
      strictEqual(refused.canceled, true);
      ok((refused.cancelReason ?? "").length > 0);

      // Progress request: a header-only response at the current revision.
      call.send({ progressRequest: {} });
      const progress = await reader.next();
      strictEqual(longToNumber(progress.watchId), -1);
      strictEqual((progress.events ?? []).length, 0);
      strictEqual(longToNumber(progress.header?.revision ?? 0), 6);

      // Fragments: catching up on 12 puts of 500 bytes gives one response of ~7 KB, over the
      // 4096-byte limit, so it comes in fragments.
      const value = "v".repeat(500);
      let firstRev = 0;
      for (let i = 0; i < 12; i++) {
        const r = await put(`f/${String(i).padStart(2, "0")}`, value);
        if (i === 0) firstRev = longToNumber(r.header?.revision ?? 0);
      }
      call.send({
        createRequest: {
          key: k("f/"),
          rangeEnd: k("f0"),
          fragment: true,
          startRevision: numberToLong(firstRev),
        },
      });
      const fragId = longToNumber((await reader.next()).watchId);
      const parts: WatchResponse[] = [];
      while (parts.length === 0 || parts[parts.length - 1]!.fragment === true) {
        const r = await reader.next();
        if (longToNumber(r.watchId) === fragId) parts.push(r);
      }
      ok(parts.length > 1, `fragmented into ${parts.length}`);
      strictEqual(parts.flatMap((p) => p.events ?? []).length, 12);
      for (const p of parts) {
        ok(etcdserverpb.WatchResponse.encode(p).finish().length < 4096 + 600);
      }

      // A watch from a compacted revision is canceled with the compact revision.
      await c.unary(METHODS.KV.Compact, { revision: numberToLong(6) });
      call.send({ createRequest: { key: k("a"), startRevision: numberToLong(3) } });
      const createdOld = await reader.next();
      strictEqual(createdOld.created, true);
      const compacted = await reader.next();
      strictEqual(compacted.canceled, true);
      strictEqual(longToNumber(compacted.compactRevision), 6);
      call.cancel();
    } finally {
      c.close();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a watch stream that never reads does not slow down writers",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_watch_slow_" });
    const cfg = singleMemberConfig({ name: "w", dataDir, clientPort: 23936, peerPort: 23937 });
    const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
    const server = await startEtcd(cfg, log);
    // A raw grpc-js stream, never read: HTTP/2 flow control stops the server's sends.
    const stalled = new grpc.Client(server.clientAddrs[0]!, grpc.credentials.createInsecure());
    const writer = new EtcdGrpcClient(server.clientAddrs[0]!);
    try {
      // Ten watchers over everything on a stream whose responses are never read.
      const call = stalled.makeBidiStreamRequest(
        METHODS.Watch.Watch.path,
        (m: etcdserverpb.WatchRequest.$Properties) =>
          Buffer.from(METHODS.Watch.Watch.request.encode(m)),
        (bytes: Buffer) => bytes,
      );
      call.on("error", () => {}); // CANCELLED when the test ends it
      for (let i = 0; i < 10; i++) {
        call.write({ createRequest: { key: k("\0"), rangeEnd: k("\0") } });
      }
      const value = new Uint8Array(64 * 1024).fill(0x61);
      const started = performance.now();
      let setAside = 0;
      for (let i = 0; i < 150; i++) {
        await writer.unary(METHODS.KV.Put, { key: k(`slow/${i}`), value }, { timeoutMs: 5000 });
        const counts = server.core.kv.watcherCounts();
        setAside = Math.max(setAside, counts.victims + counts.unsynced);
      }
      console.log(`watchers set aside while the stream was stalled: up to ${setAside} of 10`);
      const seconds = (performance.now() - started) / 1000;
      // ~100 MB of events are owed to the stalled stream; writes must not wait for it.
      ok(seconds < 30, `150 puts took ${seconds.toFixed(1)} s`);
      const counts = server.core.kv.watcherCounts();
      strictEqual(counts.synced + counts.unsynced + counts.victims, 10);

      call.cancel();
    } finally {
      stalled.close();
      writer.close();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
