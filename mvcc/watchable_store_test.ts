/**
 * Watch tests: live (synced) delivery, catch-up of watchers that start in the past (unsynced,
 * read back from the key bucket in bounded batches), the compacted notice, filters, prev_kv,
 * progress, cancel, and a slow consumer that must never block writers yet must receive every
 * event exactly once and in order once it drains.
 */
import assert from "node:assert/strict";
import { MemBackend } from "./_mem_backend_test_util.ts";
import { WatcherDuplicateIdError, WatcherNotExistError } from "./errors.ts";
import { EventType } from "./mvccpb.ts";
import { WatchableStore, type WatchStream } from "./watchable_store.ts";
import { FilterType, type WatchResponse } from "./watcher_group.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Reads responses until `want` events arrived (or fails after `timeoutMs`). */
async function collectEvents(
  stream: WatchStream,
  want: number,
  timeoutMs = 5000,
): Promise<WatchResponse[]> {
  const responses: WatchResponse[] = [];
  let events = 0;
  const deadline = Date.now() + timeoutMs;
  while (events < want) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(1, deadline - Date.now()));
    });
    const r = await Promise.race([stream.next(), timeout]);
    clearTimeout(timer);
    if (r === undefined) throw new Error(`timed out with ${events}/${want} events`);
    responses.push(r);
    events += r.events.length;
  }
  return responses;
}

function newStore(backend = new MemBackend()): WatchableStore {
  return new WatchableStore(backend, { syncIntervalMs: 1, victimIntervalMs: 1 });
}

Deno.test("synced watchers get each write's events, by key, range and prefix", async () => {
  const store = newStore();
  const stream = store.newWatchStream();
  const single = stream.watch({ key: enc("a") });
  const range = stream.watch({ key: enc("a"), end: enc("c") });
  const fromKey = stream.watch({ key: enc("b"), end: new Uint8Array(0) });
  assert.deepEqual([single, range, fromKey], [0, 1, 2]);
  store.put(enc("a"), enc("1")); // rev 2: single, range
  store.put(enc("b"), enc("2")); // rev 3: range, fromKey
  store.put(enc("z"), enc("3")); // rev 4: fromKey
  store.deleteRange(enc("a"), undefined); // rev 5: single, range
  const got = await collectEvents(stream, 7);
  const seen = got.map((
    r,
  ) => [r.watchId, r.revision, r.events.map((e) => `${e.type}${dec(e.kv.key)}`)]);
  assert.deepEqual(seen, [
    [0, 2, ["0a"]],
    [1, 2, ["0a"]],
    [1, 3, ["0b"]],
    [2, 3, ["0b"]],
    [2, 4, ["0z"]],
    [0, 5, ["1a"]],
    [1, 5, ["1a"]],
  ]);
  // A delete event carries the deletion's revision as mod revision.
  assert.equal(got[5]!.events[0]!.kv.modRevision, 5);
  stream.close();
  store.close();
});

Deno.test("a watcher from a past revision catches up from the backend, then goes live", async () => {
  const store = newStore();
  // 10500 revisions: more than one batch of 1000 revisions and more than one bounded read
  // of 10000 rows.
  const total = 10500;
  for (let i = 0; i < total; i++) store.put(enc(`k${i % 7}`), enc(`v${i}`));
  store.deleteRange(enc("k3"), undefined);
  const stream = store.newWatchStream();
  stream.watch({ key: enc("k"), end: enc("l"), startRev: 2 });
  const history = await collectEvents(stream, total + 1);
  const revs = history.flatMap((r) => r.events.map((e) => e.kv.modRevision));
  assert.deepEqual(revs, Array.from({ length: total + 1 }, (_, i) => i + 2));
  assert.equal(history[history.length - 1]!.events.at(-1)!.type, EventType.DELETE);
  assert.ok(history.length >= 3, "history arrives in bounded batches");
  store.put(enc("k1"), enc("live"));
  const live = await collectEvents(stream, 1);
  assert.equal(live[0]!.events[0]!.kv.modRevision, total + 3);
  assert.deepEqual(store.watcherCounts(), { synced: 1, unsynced: 0, victims: 0 });
  stream.close();
  store.close();
});

Deno.test("a watcher whose start revision is compacted gets the compact revision", async () => {
  const store = newStore();
  for (let i = 0; i < 10; i++) store.put(enc("k"), enc(`v${i}`));
  await store.compact(8).done;
  const stream = store.newWatchStream();
  stream.watch({ key: enc("k"), startRev: 3 });
  const ok = stream.watch({ key: enc("k"), startRev: 8 }); // at the compacted revision: allowed
  const got = await collectEvents(stream, 4);
  const notice = got.find((r) => r.compactRevision !== 0);
  assert.ok(notice !== undefined);
  assert.equal(notice.compactRevision, 8);
  assert.equal(notice.watchId, 0);
  // The notice ends the watcher: its ID can be used again.
  assert.equal(stream.watch({ id: 0, key: enc("k") }), 0);
  assert.deepEqual(
    got.filter((r) => r.watchId === ok).flatMap((r) => r.events.map((e) => e.kv.modRevision)),
    [8, 9, 10, 11],
  );
  stream.close();
  store.close();
});

Deno.test("a slow stream never blocks writers and later receives every event once, in order", async () => {
  const store = newStore();
  const slow = store.newWatchStream();
  const fast = store.newWatchStream();
  slow.watch({ key: enc("k") });
  fast.watch({ key: enc("k") });
  const fastRevs: number[] = [];
  const fastDone = (async () => {
    while (fastRevs.length < 1000) {
      const r = await fast.next();
      if (r === undefined) return;
      for (const e of r.events) fastRevs.push(e.kv.modRevision);
    }
  })();
  // 1000 writes with nobody reading the slow stream: its queue fills (128), its watcher turns
  // victim and then unsynced; every write returns at once.
  for (let i = 0; i < 1000; i++) {
    store.put(enc("k"), enc(`v${i}`));
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  assert.equal(store.rev, 1001);
  const counts = store.watcherCounts();
  assert.equal(counts.synced, 1, "only the fast watcher is still synced");
  assert.equal(counts.victims + counts.unsynced, 1, "the slow watcher was moved aside");
  await fastDone;
  assert.deepEqual(fastRevs, Array.from({ length: 1000 }, (_, i) => i + 2));
  const slowGot = await collectEvents(slow, 1000);
  const slowRevs = slowGot.flatMap((r) => r.events.map((e) => e.kv.modRevision));
  assert.deepEqual(slowRevs, Array.from({ length: 1000 }, (_, i) => i + 2));
  slow.close();
  fast.close();
  store.close();
});

Deno.test("filters, prev_kv, progress and cancel", async () => {
  const store = newStore();
  const stream = store.newWatchStream();
  const noPut = stream.watch({ key: enc("a"), filters: [FilterType.NOPUT] });
  const withPrev = stream.watch({ id: 10, key: enc("a"), prevKv: true });
  assert.throws(() => stream.watch({ id: 10, key: enc("b") }), WatcherDuplicateIdError);
  store.put(enc("a"), enc("1"));
  store.put(enc("a"), enc("2"));
  store.deleteRange(enc("a"), undefined);
  const got = await collectEvents(stream, 4);
  assert.deepEqual(got.filter((r) => r.watchId === noPut).map((r) => r.events[0]!.type), [1]);
  const prevs = got.filter((r) => r.watchId === withPrev).map((r) =>
    r.events[0]!.prevKv === undefined ? null : dec(r.events[0]!.prevKv.value)
  );
  assert.deepEqual(prevs, [null, "1", "2"]);
  stream.requestProgress(withPrev);
  const progress = await stream.next();
  assert.deepEqual(progress, { watchId: 10, events: [], revision: 4, compactRevision: 0 });
  stream.cancel(withPrev);
  assert.throws(() => stream.cancel(withPrev), WatcherNotExistError);
  store.put(enc("a"), enc("3"));
  store.deleteRange(enc("a"), undefined);
  const after = await collectEvents(stream, 1);
  assert.deepEqual(after.map((r) => r.watchId), [noPut]);
  assert.equal(stream.pending, 0);
  stream.close();
  assert.equal(await stream.next(), undefined);
  store.close();
});

Deno.test("restore from another backend rebuilds the store and catches watchers up", async () => {
  // Goal: a follower receiving the leader's db (further ahead) serves the new data and its
  // synced watchers see the revisions they had not seen, read from the new backend.
  const leaderBackend = new MemBackend();
  const leader = newStore(leaderBackend);
  for (let i = 0; i < 10; i++) leader.put(enc(`k${i % 3}`), enc(`leader${i}`)); // revs 2..11
  await leader.compact(5).done;
  const follower = newStore();
  for (let i = 0; i < 4; i++) follower.put(enc(`k${i % 3}`), enc(`old${i}`)); // revs 2..5
  const stream = follower.newWatchStream();
  stream.watch({ key: enc("k"), end: enc("l") });
  const snapshot = leaderBackend.clone();
  follower.restore(snapshot);
  assert.equal(follower.rev, 11);
  assert.equal(follower.compactRev, 5);
  assert.equal(dec(follower.range(enc("k0"), undefined).kvs[0]!.value), "leader9");
  const got = await collectEvents(stream, 6);
  assert.deepEqual(got.flatMap((r) => r.events.map((e) => e.kv.modRevision)), [6, 7, 8, 9, 10, 11]);
  follower.put(enc("k1"), enc("after"));
  assert.equal((await collectEvents(stream, 1))[0]!.events[0]!.kv.modRevision, 12);
  stream.close();
  follower.close();
  leader.close();
});

Deno.test("many watchers on one slow stream: shared slots, victims, and every event once, in order", async () => {
  // Goal: the shared-slot path (one queue slot carrying a revision's events to every unfiltered
  // watcher of a stream) keeps etcd's guarantees when the stream's reader is slow: writers never
  // wait, the stream's watchers are set aside when its queue is full, and each watcher still
  // receives every event of its key or range exactly once, in revision order, with prev_kv and
  // filters honoured. Method: 600 watchers on one stream (plain, prev_kv, a range, a NODELETE
  // filter, one cancelled half-way); 400 writes while the reader takes one response every
  // tenth write; then the reader drains.
  const store = newStore();
  const stream = store.newWatchStream();
  const kinds = new Map<number, "plain" | "prev" | "range" | "nodelete">();
  for (let i = 0; i < 600; i++) {
    const kind = (["plain", "plain", "prev", "range", "nodelete"] as const)[i % 5]!;
    const options: Parameters<WatchStream["watch"]>[0] = { key: enc("fan") };
    if (kind === "prev") options.prevKv = true;
    if (kind === "range") options.end = enc("fao");
    if (kind === "nodelete") options.filters = [FilterType.NODELETE];
    kinds.set(stream.watch(options), kind);
  }
  const cancelled = 7;
  const got = new Map<number, { rev: number; type: number; prev: string | null }[]>();
  const take = (r: WatchResponse) => {
    const list = got.get(r.watchId) ?? [];
    for (const e of r.events) {
      list.push({
        rev: e.kv.modRevision,
        type: e.type,
        prev: e.prevKv === undefined ? null : dec(e.prevKv.value),
      });
    }
    got.set(r.watchId, list);
  };
  let setAside = 0;
  const expected: { rev: number; key: string; type: number; prev: string | null }[] = [];
  let last: string | null = null;
  for (let i = 0; i < 400; i++) {
    if (i % 10 === 9) {
      store.deleteRange(enc("fan"), undefined);
      expected.push({ rev: store.rev, key: "fan", type: EventType.DELETE, prev: last });
      last = null;
    } else if (i % 10 === 4) {
      store.put(enc("fan/x"), enc(`x${i}`)); // only the range watchers see it
      expected.push({ rev: store.rev, key: "fan/x", type: EventType.PUT, prev: null });
    } else {
      store.put(enc("fan"), enc(`v${i}`));
      expected.push({ rev: store.rev, key: "fan", type: EventType.PUT, prev: last });
      last = `v${i}`;
    }
    if (i === 200) stream.cancel(cancelled);
    if (i % 10 === 0) {
      const r = stream.poll();
      if (r !== undefined) take(r);
    }
    const counts = store.watcherCounts();
    setAside = Math.max(setAside, counts.victims + counts.unsynced);
    if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.ok(setAside > 0, "the slow stream's watchers were never set aside");
  // Drain until every live watcher is back in the synced group with nothing queued.
  for (let round = 0; round < 2000; round++) {
    for (let r = stream.poll(); r !== undefined; r = stream.poll()) take(r);
    const counts = store.watcherCounts();
    if (counts.synced === 599 && stream.pending === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.deepEqual(store.watcherCounts(), { synced: 599, unsynced: 0, victims: 0 });
  for (const [id, kind] of kinds) {
    const events = got.get(id) ?? [];
    if (id === cancelled) {
      // What it got before the cancel is a prefix of its history; nothing after.
      const want = expected.filter((e) => e.key === "fan").map(({ rev, type }) => ({ rev, type }));
      assert.deepEqual(
        events.map(({ rev, type }) => ({ rev, type })),
        want.slice(0, events.length),
      );
      assert.ok(events.every((e) => e.rev <= 202), `watcher ${id} got events after its cancel`);
      continue;
    }
    const want = expected
      .filter((e) => kind === "range" ? e.key.startsWith("fan") : e.key === "fan")
      .filter((e) => kind !== "nodelete" || e.type !== EventType.DELETE)
      .map(({ rev, type, prev }) => ({ rev, type, prev: kind === "prev" ? prev : null }));
    assert.deepEqual(events, want, `watcher ${id} (${kind})`);
  }
  stream.close();
  store.close();
});
