/**
 * Model-based random tests of the bolt file: random transactions of puts, deletes, bucket
 * creation and deletion, commits and rollbacks are applied both to the DB and to an in-memory
 * model (Map of Maps); after every commit strict mode runs check() (tree shape and page
 * accounting), and the DB is compared with the model through cursors in both directions,
 * through seeks, after reopening, and through read transactions held open across commits.
 * Both freelists and both freelist persistence modes run; values range from 0 bytes to five
 * pages. BACKEND_SEEDS=N runs N seeds per configuration (default 2).
 *
 * The async runs commit half the transactions with commitAsync() and leave them in flight;
 * while one is in flight the test copies the file as it stands (what a crash would leave of
 * it) and checks that the copy opens to the last durable state: the meta goes to disk only
 * after the pages, and no page the durable meta still points at was overwritten.
 */

import { DB, PAGE_CACHE_OVERHEAD_BYTES } from "./db.ts";
import type { Tx } from "./tx.ts";
import type { FreelistType } from "./free_spans.ts";
import { check } from "./mod.ts";
import { assert, assertEquals, assertThrows, b, prng, s, tempDir } from "./_test_util.ts";
import type { Bucket } from "./bucket.ts";

type Model = Map<string, Map<string, string>>;

const BUCKETS = ["a", "b", "key", "a/n"];

function cloneModel(m: Model): Model {
  return new Map([...m].map(([k, v]) => [k, new Map(v)]));
}

function resolve(tx: Tx, path: string): Bucket | null {
  const parts = path.split("/");
  let bucket = tx.bucket(b(parts[0]!));
  for (const part of parts.slice(1)) bucket = bucket?.bucket(b(part)) ?? null;
  return bucket;
}

function randomValue(rand: () => number, pageSize: number): string {
  const r = rand();
  const length = r < 0.1
    ? 0
    : r < 0.7
    ? Math.floor(rand() * 100)
    : r < 0.93
    ? Math.floor(rand() * pageSize)
    : Math.floor(rand() * pageSize * 5);
  const c = String.fromCharCode(Math.floor(rand() * 256));
  return c.repeat(length);
}

/** Compares the DB (as `tx` sees it) with the model, forwards, backwards and by seeks. */
function verify(tx: Tx, model: Model, rand: () => number): void {
  for (const path of BUCKETS) {
    const expected = model.get(path);
    const bucket = resolve(tx, path);
    assertEquals(bucket !== null, expected !== undefined, `bucket ${path} existence`);
    if (bucket === null || expected === undefined) continue;
    const keys = [...expected.keys()].sort();
    const c = bucket.cursor();
    const forward: string[] = [];
    for (let k = c.first(); k !== null; k = c.next()) {
      if (c.value === null) continue; // nested bucket
      forward.push(s(k));
      assertEquals(s(c.value), expected.get(s(k)), `value of ${path}/${s(k)}`);
    }
    assertEquals(forward, keys, `keys of ${path}`);
    if (bucket.root !== 0 && bucket.rootNode === null && bucket.nodes.size === 0) {
      // The same keys and values through the partial reads of forEachPart.
      const parts: string[] = [];
      tx.db.forEachPart(bucket.root, (k, size, part) => {
        const whole = s(part(0, size));
        assertEquals(whole, expected.get(s(k)), `forEachPart value of ${path}/${s(k)}`);
        if (size >= 3) assertEquals(s(part(size - 3, 3)), whole.slice(-3), "forEachPart tail");
        if (size >= 7) assertEquals(s(part(2, 5)), whole.slice(2, 7), "forEachPart middle");
        parts.push(s(k));
      });
      assertEquals(parts, keys, `forEachPart keys of ${path}`);
    }
    const backward: string[] = [];
    for (let k = c.last(); k !== null; k = c.prev()) if (c.value !== null) backward.push(s(k));
    assertEquals(backward, keys.slice().reverse(), `reverse keys of ${path}`);
    for (let i = 0; i < 5; i++) {
      const probe = "k" + Math.floor(rand() * 300);
      const next = keys.find((k) => k >= probe);
      let k = c.seek(b(probe));
      while (k !== null && c.value === null) k = c.next();
      assertEquals(k === null ? undefined : s(k), next, `seek ${probe} in ${path}`);
      const got = bucket.get(b(probe));
      assertEquals(got === undefined ? undefined : s(got), expected.get(probe));
    }
  }
}

function applyRandomOp(tx: Tx, model: Model, rand: () => number, pageSize: number): void {
  const path = BUCKETS[Math.floor(rand() * BUCKETS.length)]!;
  const r = rand();
  const existing = model.get(path);
  if (existing === undefined) {
    const parent = path.includes("/") ? path.split("/")[0]! : null;
    if (parent !== null && !model.has(parent)) return;
    const container = parent === null ? tx.root : resolve(tx, parent)!;
    container.createBucket(b(path.split("/").pop()!));
    model.set(path, new Map());
    return;
  }
  const bucket = resolve(tx, path)!;
  if (r < 0.01) {
    const parts = path.split("/");
    const container = parts.length === 1 ? tx.root : resolve(tx, parts[0]!)!;
    container.deleteBucket(b(parts.pop()!));
    for (const p of [...model.keys()]) if (p === path || p.startsWith(path + "/")) model.delete(p);
  } else if (r < 0.65) {
    const key = "k" + Math.floor(rand() * 300);
    const value = randomValue(rand, pageSize);
    bucket.put(b(key), b(value));
    existing.set(key, value);
  } else if (r < 0.97) {
    const key = "k" + Math.floor(rand() * 300);
    bucket.delete(b(key));
    existing.delete(key);
  } else {
    const seq = bucket.nextSequence();
    assert(seq >= 1);
  }
}

/** The file as it stands, opened as a crash would leave it, holds exactly `durable`. */
function verifyCopy(path: string, durable: Model, options: object, rand: () => number) {
  const copyPath = path + ".copy";
  Deno.writeFileSync(copyPath, Deno.readFileSync(path));
  const copy = DB.open(copyPath, options);
  try {
    copy.view((reader) => verify(reader, durable, rand));
    assertEquals(check(copy), []);
  } finally {
    copy.close();
    Deno.removeSync(copyPath);
  }
}

async function runModel(
  seed: number,
  freelistType: FreelistType,
  noFreelistSync: boolean,
  transactions: number,
  asyncCommits = false,
) {
  const rand = prng(seed);
  const dir = tempDir();
  const path = `${dir}/db`;
  const pageSize = rand() < 0.5 ? 1024 : 4096;
  const options = {
    freelistType,
    noFreelistSync,
    strictMode: true,
    pageSize,
    pageCacheBytes: 64 * pageSize,
  };
  let db = DB.open(path, options);
  let committed: Model = new Map();
  // The state the file holds for a crash: committed, unless a commit is in flight.
  let durable: Model = new Map();
  const inFlight: Promise<void>[] = [];
  const readers: { tx: Tx; model: Model }[] = [];
  try {
    for (let t = 0; t < transactions; t++) {
      const tx = db.begin(true);
      const working = cloneModel(committed);
      const ops = 1 + Math.floor(rand() * 40);
      for (let i = 0; i < ops; i++) applyRandomOp(tx, working, rand, pageSize);
      if (rand() < 0.2) verify(tx, working, rand);
      if (rand() < 0.15) {
        tx.rollback();
      } else if (asyncCommits && rand() < 0.5) {
        // Writing its pages finished the commit in flight before it, if any.
        inFlight.push(tx.commitAsync());
        durable = committed;
        committed = working;
        assert(db.commitInFlight());
      } else {
        tx.commit();
        committed = working;
        durable = working;
      }
      if (asyncCommits && rand() < 0.2) verifyCopy(path, durable, options, prng(t));
      if (asyncCommits && rand() < 0.2) {
        await Promise.all(inFlight.splice(0));
        assert(!db.commitInFlight());
        durable = committed;
      }
      // Readers opened now must keep seeing this state across later commits.
      if (rand() < 0.1 && readers.length < 3) {
        readers.push({ tx: db.begin(false), model: cloneModel(committed) });
      }
      if (readers.length > 0 && rand() < 0.1) {
        const reader = readers.shift()!;
        verify(reader.tx, reader.model, rand);
        reader.tx.rollback();
      }
      if (rand() < 0.05) {
        for (const reader of readers.splice(0)) {
          verify(reader.tx, reader.model, rand);
          reader.tx.rollback();
        }
        db.close();
        durable = committed;
        db = DB.open(path, options);
        assertEquals(check(db), []);
      }
      if (rand() < 0.1) db.view((reader) => verify(reader, committed, rand));
    }
    for (const reader of readers.splice(0)) reader.tx.rollback();
    db.close();
    await Promise.all(inFlight.splice(0));
    db = DB.open(path, { ...options, freelistType: freelistType === "map" ? "array" : "map" });
    db.view((reader) => verify(reader, committed, rand));
    assertEquals(check(db), []);
    db.close();
  } finally {
    db.close();
    await Promise.allSettled(inFlight);
    Deno.removeSync(dir, { recursive: true });
  }
}

const SEEDS = Number(Deno.env.get("BACKEND_SEEDS") ?? "2");
const TRANSACTIONS = Number(Deno.env.get("BACKEND_TRANSACTIONS") ?? "150");

for (const freelistType of ["map", "array"] as const) {
  for (const noFreelistSync of [false, true]) {
    Deno.test(`model: random transactions match a Map (freelist ${freelistType}, ${noFreelistSync ? "not persisted" : "persisted"})`, async () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        await runModel(
          seed * 7919 + (freelistType === "map" ? 0 : 1) + (noFreelistSync ? 2 : 0),
          freelistType,
          noFreelistSync,
          TRANSACTIONS,
        );
      }
    });
    Deno.test(`model: commits left in flight by commitAsync() match a Map, and a copy of the file taken meanwhile holds the last durable state (freelist ${freelistType}, ${noFreelistSync ? "not persisted" : "persisted"})`, async () => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        await runModel(
          seed * 6007 + (freelistType === "map" ? 0 : 1) + (noFreelistSync ? 2 : 0),
          freelistType,
          noFreelistSync,
          TRANSACTIONS,
          true,
        );
      }
    });
  }
}

Deno.test("rollback leaves the committed state and the page accounting unchanged", () => {
  const dir = tempDir();
  const db = DB.open(`${dir}/db`, { strictMode: true });
  try {
    db.update((tx) => tx.createBucket(b("x")).put(b("k"), b("v")));
    const before = db.meta.pgid;
    const tx = db.begin(true);
    const bucket = tx.bucket(b("x"))!;
    for (let i = 0; i < 1000; i++) bucket.put(b("k" + i), new Uint8Array(100));
    tx.rollback();
    assertEquals(db.meta.pgid, before);
    assertEquals(check(db), []);
    db.view((r) => assertEquals(s(r.bucket(b("x"))!.get(b("k"))!), "v"));
    assertEquals(db.view((r) => r.bucket(b("x"))!.get(b("k999"))), undefined);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bucket errors carry bbolt's messages", () => {
  const dir = tempDir();
  const db = DB.open(`${dir}/db`);
  try {
    db.update((tx) => {
      const x = tx.createBucket(b("x"));
      x.put(b("k"), b("v"));
      assertThrows(() => tx.createBucket(b("x")), "bucket already exists");
      assertThrows(() => tx.createBucket(b("")), "bucket name required");
      assertThrows(() => x.put(new Uint8Array(0), b("v")), "key required");
      assertThrows(() => x.createBucket(b("k")), "incompatible value");
      assertThrows(() => tx.deleteBucket(b("nope")), "bucket not found");
    });
    db.view((tx) => assertThrows(() => tx.bucket(b("x"))!.put(b("a"), b("b")), "tx not writable"));
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("pages freed while a reader is open are reused only after it closes", () => {
  const dir = tempDir();
  const db = DB.open(`${dir}/db`, { strictMode: true });
  try {
    db.update((tx) => {
      const x = tx.createBucket(b("x"));
      for (let i = 0; i < 500; i++) x.put(b("k" + i), new Uint8Array(200).fill(i & 255));
    });
    const reader = db.begin(false);
    const seen = reader.bucket(b("x"))!.get(b("k7"))!.slice();
    for (let round = 0; round < 5; round++) {
      db.update((tx) => {
        const x = tx.bucket(b("x"))!;
        for (let i = 0; i < 500; i++) {
          x.put(b("k" + i), new Uint8Array(200).fill((i + round + 1) & 255));
        }
      });
    }
    assert(db.freelist.pendingCount() > 0, "old pages must stay pending while the reader is open");
    db.dropCache();
    assertEquals(reader.bucket(b("x"))!.get(b("k7")), seen);
    reader.rollback();
    db.update(() => {});
    assertEquals(
      db.freelist.pendingCount() > 0,
      true,
      "the empty commit's own old freelist is pending",
    );
    assertEquals(check(db), []);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("forEachPart() serves small consecutive parts past a leaf's first page from the file's bytes", () => {
  // Goal: the window that serves parts past a leaf's first page returns the bytes at the asked
  // offset, for hits inside it, parts that cross its end and parts before it. Method: values of
  // distinct bytes, 1 to 12,000 long, several per leaf; reopen with no page cache so every part
  // past a first page is read from the file; read each value in 15-byte steps (as the key index
  // rebuild reads a KeyValue's fields), then a few parts backwards, and compare with the value.
  const dir = tempDir();
  const valueOf = (i: number, size: number) => {
    const value = new Uint8Array(size);
    for (let j = 0; j < size; j++) value[j] = (j * 7 + i * 13 + (j >> 8)) & 0xff;
    return value;
  };
  const sizes = new Map<string, number>();
  const rand = prng(7);
  let db = DB.open(`${dir}/db`, { strictMode: true });
  try {
    db.update((tx) => {
      const bucket = tx.createBucket(b("key"));
      for (let i = 0; i < 300; i++) {
        const size = rand() < 0.3 ? 1 + Math.floor(rand() * 12_000) : Math.floor(rand() * 900);
        const key = "k" + String(i).padStart(4, "0");
        sizes.set(key, size);
        bucket.put(b(key), valueOf(i, size));
      }
    });
    db.close();
    db = DB.open(`${dir}/db`, { pageCacheBytes: 0 });
    const root = db.view((tx) => tx.bucket(b("key"))!.root);
    let seen = 0;
    let checkedBytes = 0;
    db.forEachPart(root, (key, size, part) => {
      const i = Number(s(key).slice(1));
      assertEquals(size, sizes.get(s(key)), `size of ${s(key)}`);
      const expected = valueOf(i, size);
      for (let at = 0; at < size; at += 15) {
        const length = Math.min(15, size - at);
        assertEquals(part(at, length), expected.subarray(at, at + length), `${s(key)} at ${at}`);
        checkedBytes += length;
      }
      for (const at of [size - 1, Math.floor(size / 2), 0]) {
        if (at < 0 || size === 0) continue;
        assertEquals(part(at, 1)[0], expected[at], `${s(key)} byte ${at}`);
      }
      seen++;
    });
    assertEquals(seen, 300);
    assert(checkedBytes > 300_000, `only ${checkedBytes} bytes were checked`);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

/** The id of the first leaf under bucket `name`'s root branch page. */
function firstLeaf(db: DB, name: string): number {
  return db.view((tx) => {
    const root = db.page(tx.bucket(b(name))!.root);
    assert(root.isBranch(), `bucket ${name} must span several leaves`);
    return root.branchPgid(0);
  });
}

/** Cache misses while `fn` runs. */
function missesOf(db: DB, fn: () => void): number {
  const before = db.stats.cacheMisses;
  fn();
  return db.stats.cacheMisses - before;
}

Deno.test("a page the freelist releases leaves the page cache", () => {
  const dir = tempDir();
  const db = DB.open(`${dir}/db`, { strictMode: true });
  try {
    db.update((tx) => {
      const x = tx.createBucket(b("x"));
      for (let i = 0; i < 500; i++) x.put(b("k" + i), new Uint8Array(200).fill(i & 255));
    });
    const old = firstLeaf(db, "x");
    db.page(old);
    assertEquals(missesOf(db, () => db.page(old)), 0, "misses reading the leaf once read");
    db.update((tx) => tx.bucket(b("x"))!.put(b("k0"), new Uint8Array(10)));
    // The next write transaction releases the old leaf: no reader can see it. (Rolled back, so
    // that no page of its own reuses the leaf's id.)
    db.begin(true).rollback();
    assertEquals(missesOf(db, () => db.page(old)), 1, "misses reading the released leaf");
    assertEquals(check(db), []);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a released page stays cached while a reader that can see it is open", () => {
  const dir = tempDir();
  const db = DB.open(`${dir}/db`, { strictMode: true });
  try {
    db.update((tx) => {
      const x = tx.createBucket(b("x"));
      for (let i = 0; i < 500; i++) x.put(b("k" + i), new Uint8Array(200).fill(i & 255));
    });
    const old = firstLeaf(db, "x");
    const reader = db.begin(false);
    db.update((tx) => tx.bucket(b("x"))!.put(b("k0"), new Uint8Array(10)));
    db.begin(true).rollback();
    assertEquals(missesOf(db, () => db.page(old)), 0, "misses while the reader is open");
    assertEquals(reader.bucket(b("x"))!.get(b("k0")), new Uint8Array(200).fill(0));
    reader.rollback();
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Commits `commits` transactions that each append `perCommit` 200-byte values to bucket "cold". */
function appendCold(db: DB, commits: number, perCommit: number, from = 0): number {
  let n = from;
  for (let c = 0; c < commits; c++) {
    db.update((tx) => {
      const cold = tx.createBucketIfNotExists(b("cold"));
      for (let i = 0; i < perCommit; i++, n++) {
        cold.put(b("c" + String(n).padStart(8, "0")), new Uint8Array(200).fill(n & 255));
      }
    });
  }
  return n;
}

Deno.test("leaves a commit writes and no one reads again do not push read-hot pages out of the cache", () => {
  const dir = tempDir();
  const pageCost = 4096 + PAGE_CACHE_OVERHEAD_BYTES;
  // The probation part holds 4 pages, the main part 508.
  const db = DB.open(`${dir}/db`, { pageSize: 4096, pageCacheBytes: 512 * pageCost });
  try {
    db.update((tx) => {
      const hot = tx.createBucket(b("hot"));
      for (let i = 0; i < 300; i++) hot.put(b("h" + i), new Uint8Array(200).fill(i & 255));
    });
    const readHot = () =>
      db.view((tx) => {
        const hot = tx.bucket(b("hot"))!;
        for (let i = 0; i < 300; i++) assertEquals(hot.get(b("h" + i))![0], i & 255);
      });
    readHot();
    readHot();
    // About 600 leaves, more than the whole budget, written and never read again.
    appendCold(db, 200, 50);
    assertEquals(missesOf(db, readHot), 0, "misses reading the hot bucket after the writes");
    assert(db.pageCacheBytes <= 512 * pageCost, `cache holds ${db.pageCacheBytes} bytes`);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a leaf a commit wrote is served from the cache when read again, and then stays", () => {
  const dir = tempDir();
  const pageCost = 4096 + PAGE_CACHE_OVERHEAD_BYTES;
  // Probation holds 8 pages: all of the first commit's.
  const db = DB.open(`${dir}/db`, { pageSize: 4096, pageCacheBytes: 1024 * pageCost });
  try {
    db.update((tx) => {
      const x = tx.createBucket(b("x"));
      for (let i = 0; i < 10; i++) x.put(b("x" + i), new Uint8Array(200).fill(i));
    });
    const readX = () =>
      db.view((tx) => {
        for (let i = 0; i < 10; i++) assertEquals(tx.bucket(b("x"))!.get(b("x" + i))![0], i);
      });
    assertEquals(missesOf(db, readX), 0, "misses reading the leaf just written");
    // Read once, it is in the main part: later writes do not push it out.
    appendCold(db, 50, 50);
    assertEquals(missesOf(db, readX), 0, "misses reading it after more writes");
    // A written leaf that is not read before the writes is pushed out by them.
    db.update((tx) => {
      const y = tx.createBucket(b("y"));
      for (let i = 0; i < 10; i++) y.put(b("y" + i), new Uint8Array(200));
    });
    appendCold(db, 50, 50, 2500);
    assertEquals(
      missesOf(db, () => db.view((tx) => tx.bucket(b("y"))!.get(b("y0")))),
      1,
      "misses reading a written leaf after the writes",
    );
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the page cache holds no more than its budget under mixed reads and writes", () => {
  const dir = tempDir();
  const rand = prng(15);
  const pageCost = 4096 + PAGE_CACHE_OVERHEAD_BYTES;
  for (const pages of [0, 1, 5, 40]) {
    const budget = pages * pageCost;
    const db = DB.open(`${dir}/db-${pages}`, { pageSize: 4096, pageCacheBytes: budget });
    try {
      let n = 0;
      for (let round = 0; round < 60; round++) {
        if (rand() < 0.5) {
          n = appendCold(db, 1, 1 + Math.floor(rand() * 80), n);
        } else if (n > 0) {
          db.view((tx) => {
            const cold = tx.bucket(b("cold"))!;
            for (let i = 0; i < 50; i++) {
              const k = Math.floor(rand() * n);
              assertEquals(cold.get(b("c" + String(k).padStart(8, "0")))![0], k & 255);
            }
          });
        }
        // One page over the budget is allowed: the cache keeps the page in use at budget 0.
        assert(
          db.pageCacheBytes <= Math.max(budget, pageCost),
          `budget ${budget}: cache holds ${db.pageCacheBytes} bytes`,
        );
        if (round === 30) db.setPageCacheBudget(Math.floor(budget / 2));
      }
      assertEquals(check(db), []);
    } finally {
      db.close();
    }
  }
  Deno.removeSync(dir, { recursive: true });
});
