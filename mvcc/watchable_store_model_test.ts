/**
 * A model-based watch test: random write transactions (puts, range deletes), random watchers
 * (single keys, ranges, from-key; start revisions in the past, now or the future), random
 * compactions, and streams drained at random speeds (some rarely, so their watchers turn victims
 * and then catch up from the backend). Every watcher must in the end have received exactly the
 * changes of the recorded history that fall in its range from its start revision on, in order,
 * without gap or duplicate — or a compaction notice, before which what it received is a prefix.
 */
import assert from "node:assert/strict";
import { MemBackend } from "./_mem_backend_test_util.ts";
import { prng } from "./_model_test_util.ts";
import { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
import { WatchableStore, type WatchStream } from "./watchable_store.ts";

interface _Change {
  rev: number;
  key: string;
  type: 0 | 1;
  value: string;
}

interface _Tracked {
  stream: number;
  id: number;
  key: string;
  end: string | undefined;
  firstRev: number;
  got: _Change[];
  compacted: number;
}

const KEYS = ["a", "b", "ba", "c", "d", "\xff"];

function matches(w: _Tracked, key: string): boolean {
  if (w.end === undefined) return key === w.key;
  return key >= w.key && (w.end === "" || key < w.end);
}

async function runWatchModel(
  seed: number,
  steps: number,
): Promise<{ victims: number; notices: number }> {
  let victims = 0;
  const rand = prng(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const store = new WatchableStore(new MemBackend(), { syncIntervalMs: 1, victimIntervalMs: 1 });
  const history: _Change[] = [];
  const compactions = new Set<number>();
  const live = new Set<string>();
  const streams: WatchStream[] = Array.from({ length: 3 }, () => store.newWatchStream());
  const drainOdds = [0.9, 0.3, 0.02]; // stream 2 is the slow one
  const tracked = new Map<string, _Tracked>();
  const drain = (s: number) => {
    for (let r = streams[s]!.poll(); r !== undefined; r = streams[s]!.poll()) {
      const w = tracked.get(`${s}/${r.watchId}`)!;
      if (r.compactRevision !== 0) w.compacted = r.compactRevision;
      for (const e of r.events) {
        w.got.push({
          rev: e.kv.modRevision,
          key: bytesToKeyString(e.kv.key),
          type: e.type,
          value: bytesToKeyString(e.kv.value),
        });
      }
    }
  };
  for (let step = 0; step < steps; step++) {
    const r = rand();
    if (r < 0.6) {
      const txn = store.write();
      const rev = store.rev + 1;
      for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) {
        const key = pick(KEYS);
        if (rand() < 0.7) {
          const value = `v${rev}.${n}`;
          txn.put(keyStringToBytes(key), keyStringToBytes(value));
          history.push({ rev, key, type: 0, value });
          live.add(key);
        } else {
          const end = rand() < 0.5 ? undefined : pick(["", "c", "\xff"]);
          txn.deleteRange(
            keyStringToBytes(key),
            end === undefined ? undefined : keyStringToBytes(end),
          );
          for (const k of [...live].sort()) {
            const hit = end === undefined ? k === key : k >= key && (end === "" || k < end);
            if (!hit) continue;
            history.push({ rev, key: k, type: 1, value: "" });
            live.delete(k);
          }
        }
      }
      txn.end();
    } else if (r < 0.75) {
      const s = Math.floor(rand() * streams.length);
      const key = pick(KEYS);
      const shape = rand();
      const end = shape < 0.4
        ? undefined
        : shape < 0.6
        ? ""
        : pick(KEYS.filter((k) => k > key).concat([""]));
      const startRev = rand() < 0.3 ? 0 : Math.max(1, store.rev + 2 - Math.floor(rand() * 40));
      const options = { key: keyStringToBytes(key), startRev } as Parameters<
        WatchStream["watch"]
      >[0];
      if (end !== undefined) options.end = keyStringToBytes(end);
      const id = streams[s]!.watch(options);
      const firstRev = startRev === 0 ? store.rev + 1 : startRev;
      tracked.set(`${s}/${id}`, { stream: s, id, key, end, firstRev, got: [], compacted: 0 });
    } else if (r < 0.8 && store.rev > 10) {
      const target = store.rev - Math.floor(rand() * 10);
      if (target > store.compactRev) {
        void store.compact(target);
        compactions.add(target);
      }
    } else {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    for (let s = 0; s < streams.length; s++) if (rand() < drainOdds[s]!) drain(s);
    victims = Math.max(victims, store.watcherCounts().victims);
  }
  // As in etcd, a watcher may start at the compacted revision itself and then reads what the
  // compaction kept there: a deletion (or an overwritten put) at exactly that revision is gone.
  // Changes at compaction revisions are therefore left out of the comparison.
  const comparable = (c: _Change) => !compactions.has(c.rev);
  // Let everything catch up.
  for (let round = 0; round < 400; round++) {
    for (let s = 0; s < streams.length; s++) drain(s);
    const done = [...tracked.values()].every((w) =>
      w.compacted !== 0 ||
      w.got.filter(comparable).length ===
        history.filter((c) => c.rev >= w.firstRev && matches(w, c.key) && comparable(c)).length
    );
    if (done && store.watcherCounts().victims === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  for (const w of tracked.values()) {
    const want = history.filter((c) => c.rev >= w.firstRev && matches(w, c.key) && comparable(c));
    w.got = w.got.filter(comparable);
    const label =
      `seed ${seed} watcher ${w.stream}/${w.id} [${w.key}, ${w.end}) from ${w.firstRev}`;
    if (w.compacted !== 0) {
      assert.ok(w.firstRev < w.compacted, `${label}: compaction notice but not compacted`);
      assert.deepEqual(w.got, want.slice(0, w.got.length), `${label}: not a prefix`);
    } else {
      assert.deepEqual(w.got, want, label);
    }
  }
  for (const s of streams) s.close();
  store.close();
  await store.compactionsDone();
  const notices = [...tracked.values()].filter((w) => w.compacted !== 0).length;
  return { victims, notices };
}

Deno.test("every watcher gets exactly its slice of the history, whatever the consumer speed", async () => {
  const seeds = Number(Deno.env.get("MVCC_WATCH_SEEDS") ?? "6");
  let victims = 0;
  let notices = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const stats = await runWatchModel(seed, 400);
    victims += stats.victims;
    notices += stats.notices;
  }
  // The run must have exercised the slow paths it is meant to check.
  assert.ok(victims > 0, "no watcher ever turned victim");
  assert.ok(notices > 0, "no watcher was ever told of a compaction");
});
