/**
 * Model-based random test: random runs of saves (with raft-style overwrites of uncommitted
 * suffixes), snapshot markers, reopenings at a snapshot, lock release and purge, over 4 KiB
 * segments so that cuts are frequent; after every reopening the WAL must return what an
 * in-memory model of the log says. Set WAL_MODEL_SEEDS for more seeds.
 */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import type { Entry, HardState } from "../raft/mod.ts";
import { readWalNames } from "./names.ts";
import { purgeWals } from "./purge.ts";
import { Wal, type WalOptions } from "./wal.ts";
import { encodeMetadata, type WalSnapshot } from "./walpb.ts";

const SEEDS = Number(Deno.env.get("WAL_MODEL_SEEDS") ?? "12");
const STEPS = 120;
const OPTIONS: WalOptions = { segmentBytes: 4096, unsafeNoFsync: true };

function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** The model: the log as raft sees it, the hard state, and the snapshots recorded. */
interface Model {
  log: Entry[];
  hardState: HardState;
  snapshots: WalSnapshot[];
  /** The snapshot the WAL was last opened at; entries before it may have been purged. */
  floor: WalSnapshot;
}

function entryAt(index: number, term: number, random: (n: number) => number): Entry {
  const data = new Uint8Array(1 + random(300));
  for (let i = 0; i < data.length; i++) data[i] = random(256);
  return { term, index, type: 0, data };
}

async function runSeed(seed: number): Promise<void> {
  const random = prng(seed * 2654435761);
  const root = await Deno.makeTempDir({ prefix: "wal_model_" });
  const dir = join(root, "wal");
  const metadata = encodeMetadata({ nodeId: BigInt(seed), clusterId: 99n });
  let wal = await Wal.create(dir, metadata, OPTIONS);
  const model: Model = {
    log: [],
    hardState: { term: 0, vote: 0n, commit: 0 },
    snapshots: [{ index: 0, term: 0 }],
    floor: { index: 0, term: 0 },
  };
  try {
    for (let step = 0; step < STEPS; step++) {
      const what = random(100);
      if (what < 60) {
        // A Ready: maybe a new term (a new leader overwrites part of the uncommitted suffix).
        const hs = model.hardState;
        const last = model.log.length;
        const newTerm = hs.term === 0 || random(5) === 0;
        const term = newTerm ? hs.term + 1 : hs.term;
        const count = random(6);
        // Only new entries can replace old ones: an empty Ready truncates nothing.
        const from = newTerm && count > 0 ? hs.commit + 1 + random(last - hs.commit + 1) : last + 1;
        const entries = Array.from({ length: count }, (_, i) => entryAt(from + i, term, random));
        model.log.length = from - 1;
        model.log.push(...entries);
        const commit = Math.max(hs.commit, Math.min(model.log.length, hs.commit + random(4)));
        model.hardState = { term, vote: BigInt(1 + random(3)), commit };
        await wal.save(model.hardState, entries);
      } else if (what < 72) {
        // A snapshot of the state machine at a committed index.
        const index = model.hardState.commit;
        if (index === 0) continue;
        const snap = { index, term: model.log[index - 1]!.term };
        await wal.saveSnapshot(snap);
        model.snapshots.push(snap);
      } else if (what < 82) {
        // Release the locks before the newest snapshot and purge down to one segment.
        const snap = model.snapshots[model.snapshots.length - 1]!;
        wal.releaseLockTo(snap.index);
        await purgeWals(dir, 1 + random(2));
        // Opening from an older snapshot may now find its segments gone; use this one.
        model.floor = snap;
      } else {
        // Restart: reopen at a snapshot not older than the purge floor, compare with the model.
        await wal.close();
        const usable = model.snapshots.filter((s) => s.index >= model.floor.index);
        const at = usable[random(usable.length)]!;
        wal = await Wal.open(dir, at, OPTIONS);
        const contents = await wal.readAll();
        deepStrictEqual(contents.metadata, metadata, `seed ${seed} step ${step}`);
        deepStrictEqual(contents.hardState, model.hardState, `seed ${seed} step ${step}`);
        deepStrictEqual(contents.entries, model.log.slice(at.index), `seed ${seed} step ${step}`);
        strictEqual(contents.repaired, undefined);
        model.floor = at;
      }
    }
    await wal.close();
    Wal.verify(dir, model.floor);
    strictEqual(readWalNames(dir).length > 0, true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test(`the WAL agrees with an in-memory model of the log over ${SEEDS} random runs`, async () => {
  for (let seed = 1; seed <= SEEDS; seed++) await runSeed(seed);
});
