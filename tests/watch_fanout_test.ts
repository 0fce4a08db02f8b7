/**
 * Watch fan-out over gRPC: many watchers on one stream whose client reads slowly.
 *
 * Goal: with the shared path (one queue slot and one encoding of a revision's events for every
 * unfiltered watcher of a stream, pre-encoded responses handed to the HTTP/2 transport in
 * batches), a stream whose reader stalls must not hold up writers, its watchers must be set
 * aside (victims, then unsynced) and caught up, and each watcher must in the end have received
 * every event of its key or range exactly once, in revision order, with prev_kv where asked.
 * Method: one member; 200 watchers on one stream (plain, prev_kv, a prefix range, NODELETE);
 * 120 writes of 1 KiB values while the client does not read (HTTP/2 flow control stalls the
 * server's sends); then the client reads everything and each watcher's events are compared
 * with the writes.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import { type etcdserverpb, longToNumber } from "../etcdserverpb/mod.ts";
import { createLogger } from "../server/log.ts";
import { startEtcd } from "../embed/mod.ts";
import { singleMemberConfig } from "./_member_config.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
const k = (s: string) => _encoder.encode(s);

type Kind = "plain" | "prev" | "range" | "nodelete";
interface Seen {
  rev: number;
  key: string;
  type: number;
  prev: string | null;
}

Deno.test({
  name: "many watchers on one stream with a stalled reader get every event once, in order",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_watch_fanout_" });
    const cfg = singleMemberConfig({ name: "w", dataDir, clientPort: 38900, peerPort: 38901 });
    const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
    const server = await startEtcd(cfg, log);
    const watching = new EtcdGrpcClient(server.clientAddrs[0]!);
    const writer = new EtcdGrpcClient(server.clientAddrs[0]!);
    try {
      const call = watching.bidi(METHODS.Watch.Watch);
      const iterator = call.responses[Symbol.asyncIterator]();
      const next = async (): Promise<etcdserverpb.WatchResponse> => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no watch response within 60 s")), 60_000);
        });
        try {
          const { value, done } = await Promise.race([iterator.next(), timeout]);
          if (done) throw new Error("watch stream ended");
          return value;
        } finally {
          clearTimeout(timer);
        }
      };
      const kinds = new Map<number, Kind>();
      const order: Kind[] = ["plain", "plain", "prev", "range", "nodelete"];
      for (let i = 0; i < 200; i++) {
        const kind = order[i % order.length]!;
        const create: etcdserverpb.WatchCreateRequest.$Properties = { key: k("fan") };
        if (kind === "prev") create.prevKv = true;
        if (kind === "range") create.rangeEnd = k("fao");
        if (kind === "nodelete") create.filters = [1]; // NODELETE
        call.send({ createRequest: create });
        const created = await next();
        strictEqual(created.created, true);
        kinds.set(longToNumber(created.watchId), kind);
      }
      // Writes while nobody reads: the stream's sends stall on flow control.
      const value = "v".repeat(1024);
      const writes: Seen[] = [];
      let last: string | null = null;
      let setAside = 0;
      for (let i = 0; i < 120; i++) {
        let rev: number;
        if (i % 10 === 9) {
          const r = await writer.unary(METHODS.KV.DeleteRange, { key: k("fan") });
          rev = longToNumber(r.header!.revision ?? 0);
          writes.push({ rev, key: "fan", type: 1, prev: last });
          last = null;
        } else if (i % 10 === 4) {
          const r = await writer.unary(METHODS.KV.Put, { key: k("fan/x"), value: k(value) });
          rev = longToNumber(r.header!.revision ?? 0);
          writes.push({ rev, key: "fan/x", type: 0, prev: null });
        } else {
          const v = `${i}:${value}`;
          const r = await writer.unary(METHODS.KV.Put, { key: k("fan"), value: k(v) });
          rev = longToNumber(r.header!.revision ?? 0);
          writes.push({ rev, key: "fan", type: 0, prev: last });
          last = v;
        }
        const counts = server.core.kv.watcherCounts();
        setAside = Math.max(setAside, counts.victims + counts.unsynced);
      }
      console.log(`watchers set aside while the reader stalled: up to ${setAside} of 200`);
      ok(setAside > 0, "the stalled stream's watchers were never set aside");
      // Now read until every watcher has all of its events.
      const want = new Map<number, Seen[]>();
      let total = 0;
      for (const [id, kind] of kinds) {
        const list = writes
          .filter((w) => kind === "range" ? w.key.startsWith("fan") : w.key === "fan")
          .filter((w) => kind !== "nodelete" || w.type !== 1)
          .map((w) => ({ ...w, prev: kind === "prev" ? w.prev : null }));
        want.set(id, list);
        total += list.length;
      }
      const got = new Map<number, Seen[]>();
      let received = 0;
      while (received < total) {
        const r = await next();
        const id = longToNumber(r.watchId);
        ok(kinds.has(id), `a response for unknown watch ${id}`);
        ok(!r.canceled, `watch ${id} canceled: ${r.cancelReason}`);
        const list = got.get(id) ?? [];
        for (const e of r.events ?? []) {
          const rev = longToNumber(e.kv!.modRevision ?? 0);
          ok(rev <= longToNumber(r.header!.revision ?? 0), "an event past the header revision");
          list.push({
            rev,
            key: _decoder.decode(e.kv!.key ?? undefined),
            type: e.type ?? 0,
            prev: e.prevKv ? _decoder.decode(e.prevKv.value ?? undefined) : null,
          });
          received++;
        }
        got.set(id, list);
      }
      for (const [id, kind] of kinds) {
        deepStrictEqual(got.get(id) ?? [], want.get(id), `watch ${id} (${kind})`);
      }
      const counts = server.core.kv.watcherCounts();
      strictEqual(counts.synced + counts.unsynced + counts.victims, 200);
      call.cancel();
    } finally {
      watching.close();
      writer.close();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
