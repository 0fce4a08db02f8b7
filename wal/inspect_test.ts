import { ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { encodeConfChange } from "../raft/mod.ts";
import { inspectWal } from "./inspect.ts";
import { Wal } from "./wal.ts";
import { encodeMetadata } from "./walpb.ts";

Deno.test("inspectWal() shows every record decoded, as text and as JSON, and reports a torn tail", async () => {
  const root = await Deno.makeTempDir({ prefix: "wal_inspect_" });
  const dir = join(root, "wal");
  const wal = await Wal.create(dir, encodeMetadata({ nodeId: 0xabcn, clusterId: 0xdefn }), {
    segmentBytes: 8192,
  });
  const cc = encodeConfChange({
    id: 1n,
    type: 0,
    nodeId: 0xabcn,
    context: new TextEncoder().encode("m1"),
  });
  await wal.save({ term: 1, vote: 0xabcn, commit: 1 }, [{ term: 1, index: 1, type: 1, data: cc }]);
  await wal.save({ term: 2, vote: 0xabcn, commit: 2 }, [{ term: 2, index: 2, type: 0 }]);
  await wal.saveSnapshot({ index: 2, term: 2 });
  await wal.close();

  const text = inspectWal(dir);
  ok(text.includes("metadata crc=") && text.includes("nodeId=abc clusterId=def"), text);
  ok(text.includes("@64 entry crc="), text);
  ok(text.includes("term=1 index=1 entryType=EntryConfChange dataBytes="), text);
  ok(text.includes("confChange=id=1 type=AddNode nodeId=abc context=m1"), text);
  ok(text.includes("state crc=") && text.includes("term=2 vote=abc commit=2"), text);
  ok(text.includes("snapshot crc=") && text.includes("index=2 term=2"), text);
  const json = JSON.parse(inspectWal(dir, { json: true }));
  // crc, metadata, initial snapshot marker, 2 x (entry, state), snapshot marker.
  strictEqual(json.records.length, 8);
  strictEqual(json.counts.entry, 2);
  strictEqual(json.torn, undefined);

  // Cut the last record short: reported, not repaired (inspect only reads).
  const path = join(dir, "0000000000000000-0000000000000000.wal");
  const last = json.records[json.records.length - 1];
  const bytes = Deno.readFileSync(path);
  Deno.writeFileSync(path, bytes.subarray(0, last.offset + 5));
  const torn = inspectWal(dir);
  ok(
    torn.includes(
      `torn write at the end of 0000000000000000-0000000000000000.wal, last whole record ends at ${last.offset}`,
    ),
    torn,
  );
  strictEqual(Deno.statSync(path).size, last.offset + 5);
  await Deno.remove(root, { recursive: true });
});
