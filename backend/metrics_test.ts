/**
 * The backend's metric helpers: span length classes, etcd's slow-snapshot threshold and
 * go-humanize's byte sizes; and the page-file gauges read a real backend on scrape.
 */
import assert from "node:assert/strict";
import { register } from "prom-client";
import { openBackend } from "./backend.ts";
import { humanBytes, openReadTransactions, snapshotWarningMs, spanClassCounts } from "./metrics.ts";
import { b, tempDir } from "./_test_util.ts";

Deno.test("spanClassCounts sorts span lengths into classes bounded above, the rest in +Inf", () => {
  const spans = new Map([[1, 5], [2, 1], [3, 2], [1024, 1], [1025, 4]]);
  assert.deepEqual(spanClassCounts(spans), [5, 1, 2, 0, 0, 0, 0, 0, 0, 1, 4]);
  assert.deepEqual(spanClassCounts(new Map()), new Array(11).fill(0));
});

Deno.test("snapshotWarningMs is etcd's: 30 s at least, else the size at 100 MB/s", () => {
  assert.equal(snapshotWarningMs(1024), 30_000);
  // 100 * 1024 * 1014 bytes a second (etcd's figure): 60 s for 60 times that.
  assert.equal(Math.round(snapshotWarningMs(60 * 100 * 1024 * 1014)), 60_000);
});

Deno.test("humanBytes prints SI sizes as go-humanize does", () => {
  assert.equal(humanBytes(5), "5 B");
  assert.equal(humanBytes(25_000), "25 kB");
  assert.equal(humanBytes(1_200_000), "1.2 MB");
  assert.equal(humanBytes(3_000_000_000), "3.0 GB");
});

Deno.test("detcd_backend_pages adds up to the file's pages below its high-water mark", async () => {
  const dir = tempDir();
  const backend = openBackend({ path: `${dir}/db` });
  try {
    const tx = backend.batchTx;
    tx.lock();
    tx.unsafeCreateBucket(b("key"));
    for (let i = 0; i < 2000; i++) tx.unsafePut(b("key"), b(`k${i}`), new Uint8Array(100));
    tx.unlock();
    backend.forceCommit();
    tx.lock();
    for (let i = 0; i < 2000; i += 2) tx.unsafeDelete(b("key"), b(`k${i}`));
    tx.unlock();
    backend.forceCommit();
    const pages = await register.getSingleMetric("detcd_backend_pages")!.get();
    const byType: Record<string, number> = Object.fromEntries(
      pages.values.map((v) => [String(v.labels.type), v.value]),
    );
    const total = Object.values(byType).reduce((sum, v) => sum + v, 0);
    assert.equal(total * 4096, backend.size());
    assert.ok(byType.in_use! > 10, JSON.stringify(byType));
    // A db snapshot is the one read transaction that stays open.
    const before = openReadTransactions();
    const snapshot = backend.snapshot();
    assert.equal(openReadTransactions(), before + 1);
    snapshot.close();
    assert.equal(openReadTransactions(), before);
    const spans = await register.getSingleMetric("detcd_backend_freelist_spans")!.get();
    const freeSpans = spans.values.reduce((sum, v) => sum + v.value, 0);
    assert.ok(freeSpans > 0 || byType.free === 0, JSON.stringify(spans.values));
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
