/**
 * The packed key index against the object-per-revision index it replaced (the reference model):
 * the same random sequences of puts, tombstones and compactions, with every read compared after
 * every step; and table tests of etcd's `key_index_test.go` cases.
 */
import assert from "node:assert/strict";
import { KeyIndex, type RevisionSet, TreeIndex } from "./key_index.ts";
import { ReferenceKeyIndex } from "./_key_index_reference_test_util.ts";
import { bytesToKeyString } from "./key_bytes.ts";

/** A small seeded PRNG (mulberry32), so a failing seed replays. */
function _prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function _sorted(set: RevisionSet): string[] {
  return [...set.keys()].sort();
}

function _compareReads(packed: KeyIndex, reference: ReferenceKeyIndex, rev: number): void {
  const empty = reference.isEmpty();
  assert.deepStrictEqual(packed.isEmpty(), empty);
  if (empty) return;
  assert.deepStrictEqual(packed.generations, reference.generations);
  assert.deepStrictEqual(packed.modified, reference.modified);
  assert.deepStrictEqual(packed.live(), reference.generations.at(-1)!.revs.length > 0);
  for (let at = 0; at <= rev + 1; at++) {
    assert.deepStrictEqual(packed.get(at), reference.get(at), `get(${at})`);
    assert.deepStrictEqual(packed.since(at), reference.since(at), `since(${at})`);
    const [a, b] = [new Map(), new Map()];
    packed.keep(at, a);
    reference.keep(at, b);
    assert.deepStrictEqual(_sorted(a), _sorted(b), `keep(${at})`);
  }
}

Deno.test("KeyIndex answers as the reference index over random puts, tombstones, compactions", () => {
  const seeds = Number(Deno.env.get("KEY_INDEX_SEEDS") ?? "100");
  for (let seed = 1; seed <= seeds; seed++) {
    const random = _prng(seed);
    const packed = new KeyIndex("k");
    const reference = new ReferenceKeyIndex(new Uint8Array([107]), "k");
    let rev = 1;
    let compacted = 0;
    packed.put(rev, 0);
    reference.put(rev, 0);
    for (let step = 0; step < 40 && !reference.isEmpty(); step++) {
      const dice = random();
      rev++;
      const sub = random() < 0.2 ? 1 + Math.floor(random() * 3) : 0;
      if (dice < 0.55) {
        packed.put(rev, sub);
        reference.put(rev, sub);
      } else if (dice < 0.8) {
        assert.deepStrictEqual(packed.tombstone(rev, sub), reference.tombstone(rev, sub));
      } else {
        const at = compacted + Math.floor(random() * (rev - compacted + 1));
        const [a, b] = [new Map(), new Map()];
        packed.compact(at, a);
        reference.compact(at, b);
        assert.deepStrictEqual(_sorted(a), _sorted(b), `seed ${seed}: compact(${at})`);
        compacted = at;
      }
      _compareReads(packed, reference, rev);
    }
  }
});

Deno.test("KeyIndex.put refuses a revision that is not after the last one", () => {
  const ki = new KeyIndex("k");
  ki.put(5, 1);
  assert.throws(() => ki.put(5, 1));
  assert.throws(() => ki.put(4, 9));
  ki.put(5, 2);
  assert.deepStrictEqual(ki.modified, { main: 5, sub: 2 });
});

Deno.test("KeyIndex.get follows generations (etcd TestKeyIndexGet)", () => {
  // put 2, 4, 6 (tomb), 8, 10, 12 (tomb), 14, 14.1, 16 (tomb); compact at 4.
  const ki = new KeyIndex("foo");
  ki.put(2, 0);
  ki.put(4, 0);
  ki.tombstone(6, 0);
  ki.put(8, 0);
  ki.put(10, 0);
  ki.tombstone(12, 0);
  ki.put(14, 0);
  ki.put(14, 1);
  ki.tombstone(16, 0);
  ki.compact(4, new Map());
  const table: [number, number | undefined][] = [
    [17, undefined],
    [16, undefined],
    [15, 14],
    [14, 14],
    [13, undefined],
    [12, undefined],
    [11, 10],
    [10, 10],
    [9, 8],
    [8, 8],
    [7, undefined],
    [6, undefined],
    [5, 4],
    [4, 4],
  ];
  for (const [at, main] of table) {
    assert.deepStrictEqual(ki.get(at)?.modified.main, main, `get(${at})`);
  }
  assert.deepStrictEqual(ki.get(15)?.modified.sub, 1);
  assert.deepStrictEqual(ki.get(15)?.version, 2);
});

Deno.test("TreeIndex keeps no reference to the caller's key bytes", () => {
  const index = new TreeIndex();
  const request = new Uint8Array(4096);
  const key = request.subarray(10, 13);
  key.set([1, 2, 3]);
  index.put(key, { main: 2, sub: 0 });
  request.fill(9);
  const ki = index.all()[0]!;
  assert.deepStrictEqual([...ki.key], [1, 2, 3]);
  assert.deepStrictEqual(ki.keyString, bytesToKeyString(new Uint8Array([1, 2, 3])));
  assert.deepStrictEqual(index.get(new Uint8Array([1, 2, 3]), 2)?.modified, { main: 2, sub: 0 });
});

Deno.test("KeyIndex.compact drops whole generations and rebuilds at the exact size", () => {
  const ki = new KeyIndex("k");
  ki.put(1, 0);
  ki.put(2, 0);
  ki.tombstone(3, 0);
  ki.put(4, 0);
  const kept = new Map();
  ki.compact(3, kept);
  // The first generation only had its tombstone left: it is gone with it.
  assert.deepStrictEqual(_sorted(kept), []);
  assert.deepStrictEqual(ki.generations, [{
    ver: 1,
    created: { main: 4, sub: 0 },
    revs: [{ main: 4, sub: 0 }],
  }]);
  assert.deepStrictEqual(ki.live(), true);
  ki.tombstone(5, 0);
  ki.compact(5, new Map());
  assert.deepStrictEqual(ki.isEmpty(), true);
});
