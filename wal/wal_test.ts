import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import type { Entry, HardState } from "../raft/mod.ts";
import { DurationHistogram, WAL_FSYNC_BUCKETS } from "./histogram.ts";
import { readWalNames } from "./names.ts";
import { purgeWals } from "./purge.ts";
import { Wal } from "./wal.ts";
import { decodeMetadata, encodeMetadata } from "./walpb.ts";
import { WalError } from "./errors.ts";

const METADATA = encodeMetadata({ nodeId: 0x8e9e05c52164694dn, clusterId: 0xcdf818194e3a8c32n });

function entry(index: number, term = 1, bytes = 64): Entry {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + i * 7) & 0xff;
  return { term, index, type: 0, data };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function hs(term: number, commit: number): HardState {
  return { term, vote: 1n, commit };
}

const roots: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const root of roots) Deno.removeSync(root, { recursive: true });
});

async function tempWalDir(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "wal_test_" });
  roots.push(root);
  return join(root, "member", "wal");
}

Deno.test("save() then open+readAll() returns metadata, last hard state and every entry", async () => {
  // Goal: the basic durability contract. Method: save three batches, close, reopen, compare.
  const dir = await tempWalDir();
  const histogram = new DurationHistogram("h", "h", WAL_FSYNC_BUCKETS);
  const wal = await Wal.create(dir, METADATA, { segmentBytes: 1 << 20, histogram });
  const saved: Entry[] = [];
  for (let batch = 0; batch < 3; batch++) {
    const entries = [1, 2, 3].map((k) => entry(batch * 3 + k));
    await wal.save(hs(1, batch * 3 + 3), entries);
    saved.push(...entries);
  }
  // Three saves with entries: three fdatasyncs (plus the one of create), one per call.
  strictEqual(histogram.count, 4);
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  const contents = await reopened.readAll();
  deepStrictEqual(decodeMetadata(contents.metadata).nodeId, 0x8e9e05c52164694dn);
  deepStrictEqual(contents.hardState, hs(1, 9));
  deepStrictEqual(contents.entries, saved);
  strictEqual(contents.repaired, undefined);
  // Appending continues the CRC chain: a further save reads back after another reopen.
  await reopened.save(hs(2, 10), [entry(10, 2)]);
  await reopened.close();
  const again = await Wal.open(dir, { index: 0, term: 0 });
  strictEqual((await again.readAll()).entries.length, 10);
  await again.close();
});

Deno.test("later entries replace conflicting ones from their index on, as etcd's reader does", async () => {
  // Raft §5.3: a new leader's entries overwrite a follower's uncommitted suffix.
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  await wal.save(hs(1, 0), [entry(1), entry(2), entry(3), entry(4)]);
  await wal.save(hs(2, 2), [entry(3, 2), entry(4, 2)]);
  await wal.save(hs(2, 2), [entry(4, 3)]);
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  const { entries } = await reopened.readAll();
  deepStrictEqual(entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2], [4, 3]]);
  await reopened.close();
});

Deno.test("open() at a snapshot returns only later entries and needs the snapshot marker", async () => {
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  await wal.save(hs(1, 5), [1, 2, 3, 4, 5].map((i) => entry(i)));
  await wal.saveSnapshot({ index: 3, term: 1 });
  await wal.save(hs(1, 6), [entry(6)]);
  await wal.close();
  const at = await Wal.open(dir, { index: 3, term: 1 });
  deepStrictEqual((await at.readAll()).entries.map((e) => e.index), [4, 5, 6]);
  await at.close();
  const wrongTerm = await Wal.open(dir, { index: 3, term: 2 });
  await rejects(
    wrongTerm.readAll(),
    (e) => e instanceof WalError && e.code === "snapshot-mismatch",
  );
  await wrongTerm.close();
  const missing = await Wal.open(dir, { index: 2, term: 1 });
  await rejects(missing.readAll(), (e) => e instanceof WalError && e.code === "snapshot-not-found");
  await missing.close();
  Wal.verify(dir, { index: 3, term: 1 });
  throws(() => Wal.verify(dir, { index: 4, term: 1 }), /snapshot not found/);
});

Deno.test("save() cuts to new segments named (seq, first index) and reads back across them", async () => {
  // Method: 4 KiB segments and 500-byte entries force a cut every few saves.
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA, { segmentBytes: 4096 });
  const saved: Entry[] = [];
  for (let i = 1; i <= 60; i++) {
    const e = entry(i, 1, 500);
    await wal.save(hs(1, i), [e]);
    saved.push(e);
  }
  await wal.close();
  const names = readWalNames(dir);
  ok(names.length >= 6, `expected several segments, got ${names}`);
  strictEqual(names[0], "0000000000000000-0000000000000000.wal");
  // The second segment starts after the entries the first one holds.
  ok(/^0000000000000001-[0-9a-f]{16}\.wal$/.test(names[1]!));
  ok(!(await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.endsWith(".tmp")));
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  const contents = await reopened.readAll();
  deepStrictEqual(contents.entries, saved);
  deepStrictEqual(contents.hardState, hs(1, 60));
  await reopened.close();
});

Deno.test("a second writer cannot open a locked WAL; releaseLockTo() then purgeWals() frees old segments", async () => {
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA, { segmentBytes: 4096 });
  for (let i = 1; i <= 40; i++) await wal.save(hs(1, i), [entry(i, 1, 500)]);
  await wal.saveSnapshot({ index: 30, term: 1 });
  await wal.close();

  const writer = await Wal.open(dir, { index: 0, term: 0 });
  await writer.readAll();
  await rejects(
    Wal.open(dir, { index: 0, term: 0 }),
    (e) => e instanceof WalError && e.code === "locked",
  );
  const before = readWalNames(dir);
  // While every segment is locked, a purge removes nothing.
  deepStrictEqual(await purgeWals(dir, 1), []);
  writer.releaseLockTo(30);
  const removed = await purgeWals(dir, 1);
  ok(removed.length > 0, "released segments are purged");
  const after = readWalNames(dir);
  deepStrictEqual([...removed, ...after], before);
  // What remains still opens at the snapshot and holds every entry after it.
  await writer.close();
  const reopened = await Wal.open(dir, { index: 30, term: 1 });
  deepStrictEqual((await reopened.readAll()).entries.map((e) => e.index), [
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    38,
    39,
    40,
  ]);
  await reopened.close();
});

Deno.test("create() refuses a directory that already holds a WAL; exists() sees it", async () => {
  const dir = await tempWalDir();
  strictEqual(Wal.exists(dir), false);
  const wal = await Wal.create(dir, METADATA);
  await wal.close();
  strictEqual(Wal.exists(dir), true);
  await rejects(Wal.create(dir, METADATA), (e) => e instanceof WalError && e.code === "exists");
});

Deno.test("a hard state with only a new commit index is written but not synced (raft MustSync)", async () => {
  const dir = await tempWalDir();
  const histogram = new DurationHistogram("h", "h", WAL_FSYNC_BUCKETS);
  const wal = await Wal.create(dir, METADATA, { histogram });
  await wal.save(hs(1, 0), [entry(1)]);
  const syncs = histogram.count;
  await wal.save(hs(1, 1), []);
  strictEqual(histogram.count, syncs);
  await wal.save({ term: 2, vote: 1n, commit: 1 }, []);
  strictEqual(histogram.count, syncs + 1);
  await wal.close();
});

Deno.test("save()'s whileSyncing runs after the write, while the sync is pending, once", async () => {
  // Method: the callback reads the sync histogram (the sync has not finished when it runs, and
  // has when the save resolves); an error it throws rejects that save only.
  const dir = await tempWalDir();
  const histogram = new DurationHistogram("h", "h", WAL_FSYNC_BUCKETS);
  const wal = await Wal.create(dir, METADATA, { histogram });
  await wal.save(hs(1, 0), [entry(1)]);
  const before = histogram.count;
  const seen: number[] = [];
  await wal.save(hs(1, 1), [entry(2)], () => seen.push(histogram.count));
  deepStrictEqual(seen, [before]);
  strictEqual(histogram.count, before + 1);
  // Without a sync (commit index only) it still runs once.
  let calls = 0;
  await wal.save(hs(1, 2), [], () => calls++);
  strictEqual(calls, 1);
  // What it throws rejects the save, and the WAL goes on.
  await rejects(
    wal.save(hs(1, 2), [entry(3)], () => {
      throw new Error("apply failed");
    }),
    /apply failed/,
  );
  await wal.save(hs(1, 3), [entry(4)]);
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  deepStrictEqual((await reopened.readAll()).entries.map((e) => e.index), [1, 2, 3, 4]);
  await reopened.close();
});

Deno.test("save() with blockingSync: one fdatasync on the caller's thread, after whileSyncing", async () => {
  // Method: FsFile's syncDataSync and syncData are counted (patched on the prototype for the
  // test), the callback reads the sync histogram, and the entries read back after reopening.
  const dir = await tempWalDir();
  const histogram = new DurationHistogram("h", "h", WAL_FSYNC_BUCKETS);
  const wal = await Wal.create(dir, METADATA, { histogram });
  const proto = Deno.FsFile.prototype;
  const { syncDataSync, syncData } = proto;
  const calls = { blocking: 0, awaited: 0 };
  proto.syncDataSync = function () {
    calls.blocking++;
    return syncDataSync.call(this);
  };
  proto.syncData = function () {
    calls.awaited++;
    return syncData.call(this);
  };
  try {
    const before = histogram.count;
    const seen: number[] = [];
    await wal.save(hs(1, 1), [entry(1)], () => seen.push(histogram.count), true);
    deepStrictEqual(seen, [before]);
    strictEqual(histogram.count, before + 1);
    deepStrictEqual(calls, { blocking: 1, awaited: 0 });
    // A commit index alone needs no sync in either mode; the default mode awaits its sync.
    await wal.save(hs(1, 1), [], undefined, true);
    await wal.save(hs(1, 2), [entry(2)]);
    deepStrictEqual(calls, { blocking: 1, awaited: 1 });
  } finally {
    proto.syncDataSync = syncDataSync;
    proto.syncData = syncData;
  }
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  const contents = await reopened.readAll();
  deepStrictEqual(contents.entries.map((e) => e.index), [1, 2]);
  deepStrictEqual(contents.hardState, hs(1, 2));
  await reopened.close();
});

Deno.test("validSnapshotEntries() lists the snapshot markers the last hard state committed", async () => {
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  await wal.save(hs(1, 3), [1, 2, 3, 4].map((i) => entry(i)));
  await wal.saveSnapshot({ index: 2, term: 1 });
  await wal.saveSnapshot({ index: 4, term: 1 });
  await wal.close();
  // The marker at 4 is past commit 3: a crash may have lost what it depends on.
  deepStrictEqual(Wal.validSnapshotEntries(dir), [{ index: 0, term: 0 }, { index: 2, term: 1 }]);
});

Deno.test("after a failed write the WAL refuses further appends instead of breaking the CRC chain", async () => {
  // Method: swap the tail segment's descriptor for a read-only one behind the WAL's back (the
  // test hook), so the next write fails as a failing disk would make it fail.
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  await wal.save(hs(1, 1), [entry(1)]);
  await wal.failTailWritesForTesting();
  await rejects(wal.save(hs(1, 2), [entry(2)]));
  await rejects(wal.save(hs(1, 2), [entry(2)]), /an earlier write failed/);
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  deepStrictEqual((await reopened.readAll()).entries, [entry(1)]);
  await reopened.close();
});

Deno.test("open() at a snapshot drops entries that a later overwrite before the snapshot discarded", async () => {
  // Raft §5.3: a term-2 leader replaced entries 3.. of a follower; the snapshot at 4 comes
  // after. Entry 5 of term 1 was discarded by that overwrite and must not come back (etcd 3.4's
  // reader skips the entries at 3 and 4 as "before the snapshot" and returns the stale 5).
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  await wal.save(hs(1, 2), [1, 2, 3, 4, 5].map((i) => entry(i, 1)));
  await wal.save(hs(2, 4), [entry(3, 2), entry(4, 2)]);
  await wal.saveSnapshot({ index: 4, term: 2 });
  await wal.close();
  const reopened = await Wal.open(dir, { index: 4, term: 2 });
  deepStrictEqual((await reopened.readAll()).entries, []);
  await reopened.close();
});

Deno.test("save() refuses entries whose indexes are not consecutive, and stops appending", async () => {
  // Goal: the always-on assertion catches a gap before it reaches the disk (it would read back
  // as a hole in the log). Method: hand save() entries 1 and 3, then try a valid save.
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  await rejects(wal.save(hs(1, 1), [entry(1), entry(3)]), /entry 3 does not follow entry 1/);
  await rejects(wal.save(hs(1, 1), [entry(1)]), /an earlier write failed/);
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  deepStrictEqual((await reopened.readAll()).entries, []);
  await reopened.close();
});

Deno.test("readAll() returns each entry's data as bytes of its own, small and large, across slabs", async () => {
  // Goal: entry data read back is packed into shared slabs (large data copied on its own);
  // no two entries may share bytes. Method: save 3,000 small entries (more than one slab) and
  // some around and above the own-copy size, read them back, compare, then zero each entry's
  // data in turn and check that every later entry still holds its own bytes.
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  const sizes = [0, 1, 100, 16_383, 16_384, 16_385, 40_000, 300_000];
  const saved: Entry[] = [];
  for (let i = 1; i <= 3_000; i++) saved.push(entry(i, 1, i % 7 === 0 ? sizes[i % 8]! : 200));
  for (let at = 0; at < saved.length; at += 500) {
    const batch = saved.slice(at, at + 500);
    await wal.save(hs(1, batch[batch.length - 1]!.index), batch);
  }
  await wal.close();
  const reopened = await Wal.open(dir, { index: 0, term: 0 });
  const { entries } = await reopened.readAll();
  await reopened.close();
  strictEqual(entries.length, saved.length);
  for (let i = 0; i < entries.length; i++) {
    ok(equalBytes(entries[i]!.data ?? new Uint8Array(0), saved[i]!.data!), `entry ${i + 1}`);
  }
  for (let i = 0; i < entries.length; i++) {
    entries[i]!.data?.fill(0);
    const next = entries[i + 1];
    if (next === undefined) continue;
    ok(equalBytes(next.data ?? new Uint8Array(0), saved[i + 1]!.data!), `entry ${i + 2} changed`);
  }
});

Deno.test("readAll() reads a segment of many read windows, a record longer than a window, and a tail cut past them", async () => {
  // Goal: the decoder reads a segment in windows (1 MiB first, up to 8 MiB) that start at the
  // next frame; records across window ends, a record longer than the largest window and a torn
  // tail far into the segment must read as before. Method: save about 20 MB of entries of
  // random sizes with one of 9 MB into one 64 MB segment, read back and compare; then cut the
  // segment inside its last record and check that exactly that record is repaired away.
  const dir = await tempWalDir();
  const wal = await Wal.create(dir, METADATA);
  const rand = (() => {
    let state = 12345;
    return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  })();
  const saved: Entry[] = [];
  let total = 0;
  for (let i = 1; total < 20_000_000; i++) {
    const bytes = i === 40 ? 9_000_000 : Math.floor(rand() * 300_000);
    saved.push(entry(i, 1, bytes));
    total += bytes;
  }
  for (let at = 0; at < saved.length; at += 10) {
    const batch = saved.slice(at, at + 10);
    await wal.save(hs(1, batch[batch.length - 1]!.index), batch);
  }
  await wal.close();
  const check = async (expected: Entry[]) => {
    const reopened = await Wal.open(dir, { index: 0, term: 0 });
    const contents = await reopened.readAll();
    await reopened.close();
    strictEqual(contents.entries.length, expected.length);
    for (let i = 0; i < expected.length; i++) {
      const got = contents.entries[i]!.data ?? new Uint8Array(0);
      ok(equalBytes(got, expected[i]!.data!), `entry ${i + 1}`);
    }
    return contents;
  };
  strictEqual((await check(saved)).repaired, undefined);
  // The last record holds the last entry: cut the file 10 bytes before the end of its data.
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wal"));
  strictEqual(names.length, 1);
  const path = join(dir, names[0]!);
  const bytes = Deno.readFileSync(path);
  const last = saved[saved.length - 1]!.data!;
  let cut = -1;
  for (let at = bytes.length - last.length; at >= 0 && cut < 0; at--) {
    if (bytes[at] === last[0] && equalBytes(bytes.subarray(at, at + last.length), last)) {
      cut = at + last.length - 10;
    }
  }
  ok(cut > 8 << 20, `the last record lies at ${cut}, inside the first window`);
  Deno.truncateSync(path, cut);
  const repaired = await check(saved.slice(0, -1));
  ok(repaired.repaired !== undefined, "the cut record was repaired away");
});
