import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { preallocate } from "./preallocate.ts";
import { Wal } from "./wal.ts";

/** Bytes a file occupies on disk (`st_blocks` counts 512-byte units). */
function allocatedBytes(path: string): number {
  return (Deno.statSync(path).blocks ?? 0) * 512;
}

Deno.test("preallocate allocates the blocks and extends the file (fallocate mode 0)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "seg");
    Deno.writeFileSync(path, new Uint8Array(0));
    const size = 1024 * 1024;
    assert(preallocate(path, size), "fallocate on Linux with FFI allowed");
    assertEquals(Deno.statSync(path).size, size);
    assert(allocatedBytes(path) >= size, `allocated ${allocatedBytes(path)} of ${size}`);
    // The allocated range reads as zeros (unwritten extents), which the WAL decoder needs.
    assert(Deno.readFileSync(path).every((b) => b === 0));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("preallocate refuses what it cannot do without changing anything", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(preallocate(join(dir, "missing"), 4096), false);
    assertEquals(preallocate(join(dir, "missing"), 0), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a new WAL's first segment and the next prepared one have their blocks allocated", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const walDir = join(dir, "wal");
    const segmentBytes = 256 * 1024;
    const wal = await Wal.create(walDir, new Uint8Array([1]), { segmentBytes });
    try {
      const first = join(walDir, "0000000000000000-0000000000000000.wal");
      assertEquals(Deno.statSync(first).size, segmentBytes);
      assert(allocatedBytes(first) >= segmentBytes, "first segment not allocated");
      // Entries past the segment size make the WAL cut to the pipeline's prepared file.
      const data = new Uint8Array(64 * 1024);
      for (let index = 1; index <= 6; index++) {
        await wal.save({ term: 1, vote: 0n, commit: 0 }, [{ term: 1, index, type: 0, data }]);
      }
      const names = [...Deno.readDirSync(walDir)].map((e) => e.name).filter((n) =>
        n.endsWith(".wal")
      );
      assert(names.length >= 2, `expected a cut, segments: ${names.join(", ")}`);
      for (const name of names.sort().slice(1)) {
        assert(allocatedBytes(join(walDir, name)) >= segmentBytes, `${name} not allocated`);
      }
    } finally {
      await wal.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
