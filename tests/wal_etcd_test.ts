/**
 * Interoperability with the real etcd 3.4: our reader decodes every record etcd writes, our
 * writer produces the same bytes, and etcd starts on a WAL we wrote and serves its entries.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { EntryType } from "../raft/mod.ts";
import { Snapshotter } from "../snap/snapshotter.ts";
import { encodeSnapFile, readSnapFile } from "../snap/snapshotter.ts";
import { inspectSnap } from "../snap/inspect.ts";
import { inspectWal } from "../wal/inspect.ts";
import { readWalNames } from "../wal/names.ts";
import { Wal } from "../wal/wal.ts";
import { decodeMetadata, RecordType } from "../wal/walpb.ts";
import { etcdctl, etcdIds, haveEtcd, replayInto, startEtcd, walRecords } from "./wal_etcd_util.ts";

const ignore = !haveEtcd();

function _contains(haystack: Uint8Array, needle: string): boolean {
  return new TextDecoder("latin1").decode(haystack).includes(needle);
}

Deno.test({
  name:
    "our reader decodes every record of real etcd's WAL and snap, and our writer reproduces its bytes",
  ignore,
  async fn() {
    // Method: run etcd with --snapshot-count 10, put 25 keys, stop it; read its WAL and snap
    // files with our code; write the same records again with our writer and compare bytes.
    const root = await Deno.makeTempDir({ prefix: "wal_etcd_" });
    const dataDir = join(root, "etcd");
    const member = await startEtcd(dataDir, {
      clientPort: 23840,
      peerPort: 23841,
      snapshotCount: 10,
    });
    let ids;
    try {
      for (let i = 1; i <= 25; i++) await etcdctl(member.endpoint, "put", `key-${i}`, `value-${i}`);
      ids = await etcdIds(member.endpoint);
    } finally {
      await member.stop();
    }
    const walDir = join(dataDir, "member", "wal");
    const snapDir = join(dataDir, "member", "snap");

    // Snap: the newest snap file loads, its CRC checks, and re-encoding gives the same bytes.
    const snapshotter = new Snapshotter(snapDir);
    const names = snapshotter.snapNames();
    ok(names.length >= 2, `etcd wrote snap files: ${names}`);
    const snapshot = snapshotter.load();
    deepStrictEqual(snapshot.metadata.confState.voters, [ids.memberId]);
    ok(snapshot.metadata.index >= 20);
    deepStrictEqual(encodeSnapFile(snapshot), Deno.readFileSync(join(snapDir, names[0]!)));

    // WAL: metadata with both IDs, every put as an entry, the hard state committing them all.
    Wal.verify(walDir, { index: snapshot.metadata.index, term: snapshot.metadata.term });
    const wal = await Wal.open(walDir, { index: 0, term: 0 });
    const contents = await wal.readAll();
    await wal.close();
    deepStrictEqual(decodeMetadata(contents.metadata), {
      nodeId: ids.memberId,
      clusterId: ids.clusterId,
    });
    const last = contents.entries[contents.entries.length - 1]!;
    strictEqual(contents.hardState.commit, last.index);
    strictEqual(contents.hardState.vote, ids.memberId);
    deepStrictEqual(contents.entries.map((e) => e.index), contents.entries.map((_, i) => i + 1));
    ok(contents.entries.some((e) => e.type === EntryType.EntryConfChange), "bootstrap conf change");
    for (let i = 1; i <= 25; i++) {
      ok(contents.entries.some((e) => e.data !== undefined && _contains(e.data, `key-${i}`)));
    }
    const records = walRecords(walDir);
    const snapshotMarkers = records.filter((r) => r.type === RecordType.snapshot);
    ok(snapshotMarkers.length >= 3, "the initial marker and one per snap file");

    // Our writer, fed the same calls, writes a byte-identical segment (preallocated tail too).
    const ourDir = join(root, "ours", "member", "wal");
    await replayInto(ourDir, contents.metadata, records);
    const theirs = Deno.readFileSync(join(walDir, readWalNames(walDir)[0]!));
    const ours = Deno.readFileSync(join(ourDir, readWalNames(ourDir)[0]!));
    strictEqual(ours.length, theirs.length);
    ok(ours.every((b, i) => b === theirs[i]), "segment bytes are identical");

    // The operator's view shows the same on etcd's files and ours.
    const memberHex = ids.memberId.toString(16);
    for (const dir of [walDir, ourDir]) {
      const text = inspectWal(dir);
      ok(
        text.includes(`nodeId=${memberHex}`) &&
          text.includes(`clusterId=${ids.clusterId.toString(16)}`),
      );
      ok(text.includes(`commit=${last.index}`));
      const json = JSON.parse(inspectWal(dir, { json: true }));
      strictEqual(json.records.length, records.length);
      strictEqual(json.counts.entry, records.filter((r) => r.type === RecordType.entry).length);
    }
    const snapText = inspectSnap(snapDir);
    ok(
      snapText.includes(
        `${names[0]} ok term=${snapshot.metadata.term} index=${snapshot.metadata.index}`,
      ),
    );
    ok(snapText.includes(`voters=[${memberHex}]`));
    // Our snapshotter writes every snap file again; the operator's view matches etcd's.
    const ourSnapDir = join(root, "ours", "member", "snap");
    await Deno.mkdir(ourSnapDir, { recursive: true });
    for (const name of names) {
      await new Snapshotter(ourSnapDir).saveSnap(readSnapFile(join(snapDir, name)));
    }
    deepStrictEqual(
      JSON.parse(inspectSnap(ourSnapDir, { json: true })).snaps,
      JSON.parse(inspectSnap(snapDir, { json: true })).snaps,
    );

    // Real etcd starts on the member dir whose WAL and snap files we wrote (with its own db),
    // loads our newest snap file, replays our WAL after it and serves every key.
    Deno.copyFileSync(join(snapDir, "db"), join(ourSnapDir, "db"));
    const again = await startEtcd(join(root, "ours"), {
      clientPort: 23840,
      peerPort: 23841,
      snapshotCount: 10,
    });
    let values;
    try {
      values = await etcdctl(again.endpoint, "get", "key-", "--prefix", "--print-value-only");
    } finally {
      await again.stop();
    }
    deepStrictEqual(
      values.trim().split("\n").sort(),
      Array.from({ length: 25 }, (_, i) => `value-${i + 1}`).sort(),
    );
    await Deno.remove(root, { recursive: true });
  },
});

Deno.test({
  name: "real etcd starts on a WAL our writer wrote, replays its entries and appends to it",
  ignore,
  async fn() {
    // Method: etcd writes keys 1-5 and stops (we keep that db), then keys 6-20. We rewrite the
    // whole WAL with our writer in 4 KiB segments and pair it with the older db: etcd can only
    // serve keys 6-20 by replaying entries from our WAL. Then it appends key 21 to our segment.
    const root = await Deno.makeTempDir({ prefix: "wal_etcd_" });
    const dataDir = join(root, "etcd");
    const ports = { clientPort: 23842, peerPort: 23843, snapshotCount: 100000 };
    const value = (i: number) => `value-${i}-${"x".repeat(400)}`;
    let member = await startEtcd(dataDir, ports);
    try {
      for (let i = 1; i <= 5; i++) await etcdctl(member.endpoint, "put", `key-${i}`, value(i));
    } finally {
      await member.stop();
    }
    const oldDb = Deno.readFileSync(join(dataDir, "member", "snap", "db"));
    member = await startEtcd(dataDir, ports);
    try {
      for (let i = 6; i <= 20; i++) await etcdctl(member.endpoint, "put", `key-${i}`, value(i));
    } finally {
      await member.stop();
    }
    const walDir = join(dataDir, "member", "wal");
    const records = walRecords(walDir);
    const metadata = records.find((r) => r.type === RecordType.metadata)!.data!;

    const ourDir = join(root, "ours");
    await Deno.mkdir(join(ourDir, "member", "snap"), { recursive: true });
    Deno.writeFileSync(join(ourDir, "member", "snap", "db"), oldDb);
    await replayInto(join(ourDir, "member", "wal"), metadata, records, { segmentBytes: 4096 });
    ok(readWalNames(join(ourDir, "member", "wal")).length >= 3, "several segments to cross");

    member = await startEtcd(ourDir, ports);
    let got;
    try {
      got = await etcdctl(member.endpoint, "get", "key-", "--prefix", "--print-value-only");
      await etcdctl(member.endpoint, "put", "key-21", "value-21");
    } finally {
      await member.stop();
    }
    const values = got.trim().split("\n").sort();
    deepStrictEqual(values, Array.from({ length: 20 }, (_, i) => value(i + 1)).sort());

    // etcd continued our last segment: our reader sees its new entry after ours.
    const wal = await Wal.open(join(ourDir, "member", "wal"), { index: 0, term: 0 });
    const { entries } = await wal.readAll();
    await wal.close();
    ok(entries.slice(-5).some((e) => e.data !== undefined && _contains(e.data, "key-21")));
    await Deno.remove(root, { recursive: true });
  },
});
