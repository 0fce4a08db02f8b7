/**
 * Tests of etcd's batched backend over the bolt file: writes visible to readers before the
 * commit, commits by batch limit and by timer, hash as etcd computes it, snapshots that are
 * valid db files, and defrag that keeps every key, shrinks the file and reports progress.
 */

import { openBackend } from "./mod.ts";
import { check } from "./mod.ts";
import { crc32c } from "../checksum/mod.ts";
import { assert, assertEquals, b, s, tempDir } from "./_test_util.ts";

Deno.test("crc32c matches the Castagnoli check value", () => {
  // The standard check value of CRC-32C over "123456789".
  assertEquals(crc32c(b("123456789")), 0xe3069283);
  assertEquals(crc32c(b("56789"), crc32c(b("1234"))), 0xe3069283);
});

Deno.test("batchTx writes are visible to readTx before the commit, and survive reopen after it", () => {
  const dir = tempDir();
  const path = `${dir}/db`;
  let backend = openBackend({ path, batchIntervalMs: 60000, batchLimit: 1000 });
  try {
    const tx = backend.batchTx;
    tx.lock();
    tx.unsafeCreateBucket(b("key"));
    tx.unsafeCreateBucket(b("key")); // exists: ignored, as etcd does
    tx.unsafePut(b("key"), b("a"), b("1"));
    tx.unsafeSeqPut(b("key"), b("b"), b("2"));
    tx.unsafePut(b("key"), b("c"), b("3"));
    tx.unlock();
    assertEquals(backend.commits(), 0);
    const read = backend.readTx();
    assertEquals(read.unsafeRange(b("key"), b("a"), b("c"), 0).keys.map(s), ["a", "b"]);
    assertEquals(read.unsafeRange(b("key"), b("b"), undefined, 0).values.map(s), ["2"]);
    assertEquals(read.unsafeRange(b("key"), b("a"), b("z"), 2).keys.map(s), ["a", "b"]);
    tx.lock();
    tx.unsafeDelete(b("key"), b("b"));
    tx.unlock();
    assertEquals(read.unsafeRange(b("key"), b("a"), b("z"), 0).keys.map(s), ["a", "c"]);
    const seen: string[] = [];
    backend.concurrentReadTx().unsafeForEach(b("key"), (k, v) => seen.push(s(k) + "=" + s(v)));
    assertEquals(seen, ["a=1", "c=3"]);
    backend.forceCommit();
    assertEquals(backend.commits(), 1);
    backend.close();
    backend = openBackend({ path });
    assertEquals(backend.readTx().unsafeRange(b("key"), b("a"), b("z"), 0).keys.map(s), ["a", "c"]);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unlock() commits once pending writes reach batchLimit", () => {
  const dir = tempDir();
  const backend = openBackend({ path: `${dir}/db`, batchIntervalMs: 60000, batchLimit: 10 });
  try {
    const tx = backend.batchTx;
    tx.lock();
    tx.unsafeCreateBucket(b("key"));
    for (let i = 0; i < 8; i++) tx.unsafePut(b("key"), b("k" + i), b("v"));
    tx.unlock();
    assertEquals(backend.commits(), 0);
    tx.lock();
    tx.unsafePut(b("key"), b("k8"), b("v"));
    tx.unlock();
    assertEquals(backend.commits(), 1);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the batch timer commits pending writes and is cleared on close", async () => {
  const dir = tempDir();
  const backend = openBackend({ path: `${dir}/db`, batchIntervalMs: 20 });
  try {
    backend.batchTx.lock();
    backend.batchTx.unsafeCreateBucket(b("key"));
    backend.batchTx.unlock();
    for (let i = 0; i < 100 && backend.commits() === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assertEquals(backend.commits(), 1);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

function fill(backend: ReturnType<typeof openBackend>, count: number, valueBytes: number) {
  const tx = backend.batchTx;
  tx.lock();
  for (const name of ["key", "meta", "lease"]) tx.unsafeCreateBucket(b(name));
  for (let i = 0; i < count; i++) {
    tx.unsafePut(
      b("key"),
      b("k" + String(i).padStart(6, "0")),
      new Uint8Array(valueBytes).fill(i & 255),
    );
  }
  tx.unsafePut(b("meta"), b("consistent_index"), new Uint8Array(8));
  tx.unlock();
  backend.forceCommit();
}

Deno.test("hash() is etcd's crc32c over bucket names, keys and values, honouring ignores", () => {
  const dir = tempDir();
  const backend = openBackend({ path: `${dir}/db` });
  try {
    fill(backend, 3, 2);
    let expected = 0;
    expected = crc32c(b("key"), expected);
    for (let i = 0; i < 3; i++) {
      expected = crc32c(b("k" + String(i).padStart(6, "0")), expected);
      expected = crc32c(new Uint8Array(2).fill(i), expected);
    }
    expected = crc32c(b("lease"), expected);
    expected = crc32c(b("meta"), expected);
    assertEquals(backend.hash((bucket) => s(bucket) === "meta"), expected);
    assert(backend.hash() !== expected, "meta's key must change the hash when not ignored");
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("snapshot() streams a consistent db file while writes go on", async () => {
  const dir = tempDir();
  const backend = openBackend({ path: `${dir}/db` });
  try {
    fill(backend, 2000, 100);
    const hashBefore = backend.hash();
    const snapshot = backend.snapshot();
    // Writes after the snapshot began must not show in it.
    const tx = backend.batchTx;
    tx.lock();
    for (let i = 0; i < 2000; i++) tx.unsafeDelete(b("key"), b("k" + String(i).padStart(6, "0")));
    tx.unlock();
    backend.forceCommit();
    const file = await Deno.open(`${dir}/snap.db`, { write: true, create: true });
    const written = await snapshot.writeTo(async (chunk) => {
      await file.write(chunk);
    });
    file.close();
    assertEquals(written, snapshot.size());
    snapshot.close();
    const copy = openBackend({ path: `${dir}/snap.db` });
    assertEquals(copy.hash(), hashBefore);
    assertEquals(check(copy.db()), []);
    copy.close();
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("defrag() keeps every key, shrinks the file and reports progress", async () => {
  const dir = tempDir();
  const path = `${dir}/db`;
  const backend = openBackend({ path });
  try {
    fill(backend, 25000, 64);
    const tx = backend.batchTx;
    tx.lock();
    for (let i = 0; i < 25000; i += 3) {
      tx.unsafeDelete(b("key"), b("k" + String(i).padStart(6, "0")));
    }
    tx.unlock();
    backend.forceCommit();
    const hashBefore = backend.hash();
    const sizeBefore = backend.size();
    assert(backend.sizeInUse() < sizeBefore);
    const progress: [number, number][] = [];
    await backend.defrag((done, total) => progress.push([done, total]));
    assertEquals(backend.hash(), hashBefore);
    assert(backend.size() < sizeBefore, `size ${backend.size()} not below ${sizeBefore}`);
    assert(progress.length >= 2, "progress is reported at every intermediate commit");
    // 25000 keys less the 8334 deleted, plus meta's consistent_index.
    assertEquals(progress.at(-1), [16667, 16667]);
    assertEquals(check(backend.db()), []);
    // The backend keeps working on the new file.
    tx.lock();
    tx.unsafePut(b("key"), b("after"), b("defrag"));
    tx.unlock();
    backend.forceCommit();
    assertEquals(
      s(backend.readTx().unsafeRange(b("key"), b("after"), undefined, 0).values[0]!),
      "defrag",
    );
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Every pair of every bucket, as text lines (the model a defragmentation must keep). */
function contents(backend: ReturnType<typeof openBackend>): string[] {
  const lines: string[] = [];
  for (const bucket of ["key", "meta", "lease", "extra"]) {
    backend.readTx().unsafeForEach(
      b(bucket),
      (k, v) => lines.push(`${bucket} ${s(k)} ${crc32c(v)}`),
    );
  }
  return lines;
}

Deno.test("defrag() copies in steps, serving reads and writes between them, and keeps every write", async () => {
  // Goal: the yielding defragmentation loses nothing written while it runs, and the event loop
  // runs while it copies. Method: 40,000 keys, a third deleted; while the copy runs (checked
  // by defragProgress() advancing between timer ticks), keys before and after the copy's
  // position are put, overwritten and deleted and a bucket is created; readers see each write
  // at once; after the switch the contents equal those written, check() is clean, the file
  // shrank, and a reopen of the file (after close) reads the same.
  const dir = tempDir();
  const path = `${dir}/db`;
  let backend = openBackend({ path });
  try {
    fill(backend, 40000, 64);
    const tx = backend.batchTx;
    tx.lock();
    for (let i = 0; i < 40000; i += 3) {
      tx.unsafeDelete(b("key"), b("k" + String(i).padStart(6, "0")));
    }
    tx.unlock();
    backend.forceCommit();
    const sizeBefore = backend.size();
    const defrag = backend.defrag();
    const seen: number[] = [];
    let writes = 0;
    while (backend.defragProgress() !== undefined) {
      seen.push(backend.defragProgress()!.copied);
      const n = writes++;
      tx.lock();
      tx.unsafePut(b("key"), b("k" + String(n * 97 % 40000).padStart(6, "0")), b(`during ${n}`));
      tx.unsafeDelete(b("key"), b("k" + String((n * 31 + 1) % 40000).padStart(6, "0")));
      if (n === 2) tx.unsafeCreateBucket(b("extra"));
      if (n >= 2) tx.unsafeSeqPut(b("extra"), b(`x${String(n).padStart(4, "0")}`), b("seq"));
      tx.unlock();
      const read = backend.readTx().unsafeRange(
        b("key"),
        b("k" + String(n * 97 % 40000).padStart(6, "0")),
        undefined,
        0,
      );
      assertEquals(s(read.values[0]!), `during ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await defrag;
    assert(writes >= 3, `the event loop ran ${writes} times during the copy`);
    assert(seen.at(-1)! > seen[0]!, `progress advanced: ${seen[0]} .. ${seen.at(-1)}`);
    assert(backend.size() < sizeBefore, `size ${backend.size()} not below ${sizeBefore}`);
    assertEquals(check(backend.db()), []);
    const expected = contents(backend);
    backend.forceCommit();
    backend.close();
    backend = openBackend({ path });
    assertEquals(contents(backend), expected);
    assertEquals(check(backend.db()), []);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("forceCommit() during a defrag finishes it; close() during one drops it and keeps the writes", async () => {
  const dir = tempDir();
  const path = `${dir}/db`;
  let backend = openBackend({ path });
  try {
    fill(backend, 30000, 32);
    const tx = backend.batchTx;
    // forceCommit: the copy completes on the spot, with the write made meanwhile.
    const first = backend.defrag();
    assert(backend.defragProgress() !== undefined, "the copy is still running");
    assert(backend.defrag() === first, "a second call joins the running one");
    tx.lock();
    tx.unsafePut(b("key"), b("k000001"), b("forced"));
    tx.unlock();
    backend.forceCommit();
    assertEquals(backend.defragProgress(), undefined);
    await first;
    assertEquals(check(backend.db()), []);
    // close: the copy is dropped, its temporary file removed, the write committed.
    const second = backend.defrag();
    tx.lock();
    tx.unsafePut(b("key"), b("k000002"), b("closed"));
    tx.unlock();
    backend.close();
    let refused = false;
    await second.catch(() => (refused = true));
    assert(refused, "the dropped defrag rejects");
    assert(!Deno.statSync(dir).isFile && [...Deno.readDirSync(dir)].length === 1, "no temp file");
    backend = openBackend({ path });
    const get = (key: string) =>
      s(backend.readTx().unsafeRange(b("key"), b(key), undefined, 0).values[0]!);
    assertEquals(get("k000001"), "forced");
    assertEquals(get("k000002"), "closed");
    assertEquals(check(backend.db()), []);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writes during a defrag are journaled, counted and replayed, also past the journal bound", async () => {
  // Method: batchLimit 10 bounds the journal at 40 writes; 50 writes land during the copy.
  const dir = tempDir();
  const backend = openBackend({ path: `${dir}/db`, batchLimit: 10 });
  try {
    fill(backend, 30000, 32);
    const done = backend.defrag();
    assert(backend.defragProgress() !== undefined, "the copy is still running");
    const tx = backend.batchTx;
    tx.lock();
    for (let i = 0; i < 50; i++) tx.unsafePut(b("key"), b(`late${i}`), b(String(i)));
    tx.unlock();
    assertEquals(backend.defragProgress()?.journaled, 50);
    await done;
    const read = backend.readTx().unsafeRange(b("key"), b("late"), b("late9~"), 0);
    assertEquals(read.keys.length, 50);
    assertEquals(check(backend.db()), []);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writes that arrive while a batch commit is in flight go to the next batch, stay readable, and commit once it is durable", async () => {
  // Method: batchLimit 2 starts an async commit; two more writes reach the limit while it is
  // in flight, so their commit waits; readers see all keys throughout; then reopen.
  const dir = tempDir();
  const path = `${dir}/db`;
  let backend = openBackend({ path, batchIntervalMs: 60000, batchLimit: 2 });
  try {
    const tx = backend.batchTx;
    tx.lock();
    tx.unsafeCreateBucket(b("key"));
    tx.unsafePut(b("key"), b("k0"), b("v0"));
    tx.unlock();
    assertEquals(backend.commits(), 1);
    assert(backend.db().commitInFlight());
    tx.lock();
    tx.unsafePut(b("key"), b("k1"), b("v1"));
    tx.unsafePut(b("key"), b("k2"), b("v2"));
    tx.unlock();
    // The first commit is not durable yet: the second one waits for it.
    assertEquals(backend.commits(), 1);
    const keys = () => backend.readTx().unsafeRange(b("key"), b("k"), b("l"), 0).keys.map(s);
    assertEquals(keys(), ["k0", "k1", "k2"]);
    for (let i = 0; i < 200 && (backend.commits() < 2 || backend.db().commitInFlight()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(backend.commits(), 2);
    assert(!backend.db().commitInFlight());
    assertEquals(keys(), ["k0", "k1", "k2"]);
    backend.close();
    backend = openBackend({ path });
    assertEquals(keys(), ["k0", "k1", "k2"]);
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("forceCommit() puts a commit in flight and the open batch on disk before it returns", () => {
  // Method: leave one commit in flight and more writes in the open batch, forceCommit(), then
  // open a copy of the file as it stands (what a crash right then would leave).
  const dir = tempDir();
  const path = `${dir}/db`;
  const backend = openBackend({ path, batchIntervalMs: 60000, batchLimit: 1 });
  try {
    const tx = backend.batchTx;
    tx.lock();
    tx.unsafeCreateBucket(b("key"));
    tx.unlock();
    assert(backend.db().commitInFlight());
    tx.lock();
    tx.unsafePut(b("key"), b("a"), b("1"));
    tx.unlock();
    backend.forceCommit();
    assert(!backend.db().commitInFlight());
    assertEquals(backend.commits(), 2);
    Deno.copyFileSync(path, `${dir}/copy`);
    const copy = openBackend({ path: `${dir}/copy` });
    try {
      assertEquals(copy.readTx().unsafeRange(b("key"), b("a"), undefined, 0).values.map(s), ["1"]);
    } finally {
      copy.close();
    }
  } finally {
    backend.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
