import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { emptyConfState, type Snapshot } from "../raft/mod.ts";
import { purgeSnaps } from "./purge.ts";
import { decodeSnapFile, encodeSnapFile, SnapError, snapName, Snapshotter } from "./snapshotter.ts";
import { decodeSnapEnvelope, encodeSnapEnvelope } from "./snappb.ts";

function snapshot(term: number, index: number): Snapshot {
  const confState = emptyConfState();
  confState.voters.push(0x8e9e05c52164694dn);
  return {
    data: new TextEncoder().encode(`state at ${index}`),
    metadata: { confState, index, term },
  };
}

const roots: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const root of roots) Deno.removeSync(root, { recursive: true });
});

async function tempSnapDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "snap_test_" });
  roots.push(dir);
  return dir;
}

Deno.test("snappb envelope: crc always written, data only when present", () => {
  deepStrictEqual(encodeSnapEnvelope({ crc: 0 }), Uint8Array.of(0x08, 0x00));
  deepStrictEqual(
    encodeSnapEnvelope({ crc: 300, data: Uint8Array.of(7) }),
    Uint8Array.of(0x08, 0xac, 0x02, 0x12, 0x01, 0x07),
  );
  deepStrictEqual(decodeSnapEnvelope(Uint8Array.of(0x08, 0xac, 0x02, 0x12, 0x01, 0x07)), {
    crc: 300,
    data: Uint8Array.of(7),
  });
});

Deno.test("saveSnap() writes %016x-%016x.snap (term, index) that load() reads back", async () => {
  const dir = await tempSnapDir();
  const s = new Snapshotter(dir);
  await s.saveSnap(snapshot(2, 11));
  await s.saveSnap(snapshot(3, 22));
  // The empty snapshot (index 0) is not written, as etcd's SaveSnap.
  await s.saveSnap({ metadata: { confState: emptyConfState(), index: 0, term: 0 } });
  deepStrictEqual(s.snapNames(), [snapName(3, 22), snapName(2, 11)]);
  strictEqual(snapName(3, 22), "0000000000000003-0000000000000016.snap");
  deepStrictEqual(s.load(), snapshot(3, 22));
  deepStrictEqual(
    s.loadNewestAvailable([{ index: 11, term: 2 }, { index: 5, term: 1 }]),
    snapshot(2, 11),
  );
  throws(
    () => s.loadNewestAvailable([{ index: 22, term: 2 }]),
    (e) => e instanceof SnapError && e.code === "no-snapshot",
  );
  ok(![...Deno.readDirSync(dir)].some((e) => e.name.endsWith(".tmp")));
});

Deno.test("load() renames a corrupt newest snap file to .broken and falls back to the one before", async () => {
  const dir = await tempSnapDir();
  const s = new Snapshotter(dir);
  await s.saveSnap(snapshot(2, 11));
  await s.saveSnap(snapshot(2, 22));
  const newest = join(dir, snapName(2, 22));
  const bytes = Deno.readFileSync(newest);
  bytes[bytes.length - 3]! ^= 0x10;
  Deno.writeFileSync(newest, bytes);
  throws(
    () => decodeSnapFile(bytes, newest),
    (e) => e instanceof SnapError && e.code === "crc-mismatch",
  );
  deepStrictEqual(s.load(), snapshot(2, 11));
  ok(Deno.statSync(newest + ".broken").isFile);
  deepStrictEqual(s.snapNames(), [snapName(2, 11)]);
  // An empty file is broken too; with nothing valid left, load() says so.
  Deno.writeFileSync(join(dir, snapName(2, 11)), new Uint8Array(0));
  throws(() => s.load(), (e) => e instanceof SnapError && e.code === "no-snapshot");
});

Deno.test("encodeSnapFile() is CRC-32C of the raftpb bytes inside the envelope", () => {
  const bytes = encodeSnapFile(snapshot(1, 5));
  const envelope = decodeSnapEnvelope(bytes);
  deepStrictEqual(decodeSnapFile(bytes, "x"), snapshot(1, 5));
  ok(envelope.crc !== 0);
});

Deno.test("purgeSnaps() keeps the newest max files", async () => {
  const dir = await tempSnapDir();
  const s = new Snapshotter(dir);
  for (let i = 1; i <= 7; i++) await s.saveSnap(snapshot(1, i * 10));
  Deno.writeFileSync(join(dir, "db"), new Uint8Array(1));
  deepStrictEqual(purgeSnaps(dir, 5), [snapName(1, 10), snapName(1, 20)]);
  deepStrictEqual(s.snapNames().length, 5);
  ok(Deno.statSync(join(dir, "db")).isFile, "other files are left alone");
});

Deno.test("saveDbFrom() stores %016x.snap.db atomically; dbFilePath() finds it; releaseSnapDbs() drops older", async () => {
  const dir = await tempSnapDir();
  const s = new Snapshotter(dir);
  const chunks = [new Uint8Array(5000).fill(1), new Uint8Array(3000).fill(2)];
  const stream = ReadableStream.from(chunks);
  const saved = await s.saveDbFrom(stream, 0x2a);
  strictEqual(saved.path, join(dir, "000000000000002a.snap.db"));
  strictEqual(saved.bytes, 8000);
  strictEqual(s.dbFilePath(0x2a), saved.path);
  deepStrictEqual(Deno.readFileSync(saved.path).subarray(4999, 5001), Uint8Array.of(1, 2));
  throws(() => s.dbFilePath(7), (e) => e instanceof SnapError && e.code === "no-db-snapshot");
  // A failing stream leaves no file behind.
  const failing = (async function* () {
    yield new Uint8Array(10);
    throw new Error("connection reset");
  })();
  await rejects(s.saveDbFrom(failing, 0x30), /connection reset/);
  ok(![...Deno.readDirSync(dir)].some((e) => e.name.startsWith("tmp")));
  await s.saveDbFrom(ReadableStream.from([new Uint8Array(1)]), 0x40);
  deepStrictEqual(s.releaseSnapDbs(0x40), ["000000000000002a.snap.db"]);
});
