import { ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { emptyConfState } from "../raft/mod.ts";
import { inspectSnap } from "./inspect.ts";
import { Snapshotter } from "./snapshotter.ts";

Deno.test("inspectSnap() lists snap files newest first with their metadata, and flags bad ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snap_inspect_" });
  const s = new Snapshotter(dir);
  const confState = emptyConfState();
  confState.voters.push(0xabcn);
  await s.saveSnap({ data: new Uint8Array(10), metadata: { confState, index: 11, term: 2 } });
  await s.saveSnap({ data: new Uint8Array(20), metadata: { confState, index: 22, term: 2 } });
  Deno.writeFileSync(join(dir, "0000000000000003-0000000000000021.snap"), Uint8Array.of(8, 1));
  Deno.writeFileSync(join(dir, "db"), new Uint8Array(4096));
  const text = inspectSnap(dir);
  const lines = text.split("\n");
  ok(
    lines[1]!.startsWith("0000000000000003-0000000000000021.snap BAD: snap: empty snapshot"),
    text,
  );
  ok(
    lines[2]!.startsWith("0000000000000002-0000000000000016.snap ok term=2 index=22 voters=[abc]"),
    text,
  );
  ok(text.includes("db 4096B"), text);
  const json = JSON.parse(inspectSnap(dir, { json: true }));
  strictEqual(json.snaps.length, 3);
  strictEqual(json.snaps[1].dataBytes, 20);
  // Inspecting renames nothing.
  ok(Deno.statSync(join(dir, "0000000000000003-0000000000000021.snap")).isFile);
  await Deno.remove(dir, { recursive: true });
});
