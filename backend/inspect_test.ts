/**
 * The db inspector: its JSON report must agree with what the file holds (buckets and key
 * counts, nested buckets, page counts that add up to the high-water mark, the free-span
 * histogram) and its text report must show the same facts; it must never write to the file.
 */

import { DB } from "./db.ts";
import { inspectDb } from "./inspect.ts";
import { assert, assertEquals, b, tempDir } from "./_test_util.ts";

Deno.test("inspectDb() reports metas, buckets with key counts, page types and free spans", () => {
  const dir = tempDir();
  const path = `${dir}/db`;
  try {
    const db = DB.open(path, { noFreelistSync: false });
    db.update((tx) => {
      const key = tx.createBucket(b("key"));
      for (let i = 0; i < 3000; i++) {
        key.put(b(`k${String(i).padStart(5, "0")}`), new Uint8Array(100));
      }
      key.put(b("big"), new Uint8Array(3 * 4096));
      tx.createBucket(b("meta")).put(b("consistent_index"), new Uint8Array(8));
      tx.createBucket(b("auth")).createBucket(b("nested")).put(b("a"), b("b"));
    });
    db.update((tx) => {
      const key = tx.bucket(b("key"))!;
      for (let i = 0; i < 3000; i += 2) key.delete(b(`k${String(i).padStart(5, "0")}`));
    });
    const highWater = db.meta.pgid;
    db.close();
    const before = Deno.readFileSync(path);
    const report = JSON.parse(inspectDb(path, { json: true }));
    assertEquals(report.pageSize, 4096);
    assertEquals(report.meta.highWater, highWater);
    assertEquals(report.meta.freelistPersisted, true);
    const byName = new Map(report.buckets.map((x: { name: string }) => [x.name, x]));
    assertEquals((byName.get("key") as { keys: number }).keys, 1501);
    assertEquals((byName.get("meta") as { keys: number; inline: boolean }).inline, true);
    const auth = byName.get("auth") as { keys: number; buckets: { name: string; keys: number }[] };
    assertEquals(auth.buckets.map((x) => [x.name, x.keys]), [["nested", 1]]);
    const p = report.pages;
    assertEquals(
      p.meta + p.freelist + p.branch + p.leaf + p.overflow + p.free + p.unreachable,
      p.total,
    );
    assertEquals(p.unreachable, 0);
    assert(p.overflow >= 3, "the 12 KiB value needs overflow pages");
    const spanPages = report.freeSpans.reduce(
      (sum: number, s: { length: number; count: number }) => sum + s.length * s.count,
      0,
    );
    assertEquals(spanPages, p.free);
    assert(p.free > 0);
    const text = inspectDb(path);
    assert(text.includes("key") && text.includes("1501 keys"), text);
    assert(text.includes(`${p.free} free`), text);
    assertEquals(Deno.readFileSync(path), before);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("inspectDb() names the file and the problem for a file it cannot read", () => {
  const dir = tempDir();
  try {
    Deno.writeFileSync(`${dir}/junk`, new Uint8Array(10000).fill(7));
    let message = "";
    try {
      inspectDb(`${dir}/junk`);
    } catch (error) {
      message = (error as Error).message;
    }
    assert(message.startsWith(`${dir}/junk: invalid database`), message);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
