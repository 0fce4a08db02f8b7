/**
 * The packed key index against the object-per-revision index it replaced (the reference model):
 * the same random sequences of puts, tombstones and compactions, with every read compared after
 * every step, one key alone and a whole tree of keys (whose histories pass through every stored
 * form: packed revision, string, array); and table tests of etcd's `key_index_test.go` cases.
 */
import assert from "node:assert/strict";
import { KeyIndex, type RevisionSet, TreeIndex } from "./key_index.ts";
import { ReferenceKeyIndex } from "./_key_index_reference_test_util.ts";
import { bytesToKeyString, keyStringToBytes } from "./key_bytes.ts";
import { mulberry32 } from "../testing/mod.ts";

/** Mostly 0, sometimes small, rarely at or past the largest sub a packed revision holds. */
function _randomSub(random: () => number): number {
  const dice = random();
  if (dice < 0.75) return 0;
  if (dice < 0.95) return 1 + Math.floor(random() * 3);
  return 2 ** 20 - 1 + Math.floor(random() * 3);
}

function _sorted(set: RevisionSet): string[] {
  return [...set.keys()].sort();
}

function _compareReads(
  packed: KeyIndex,
  reference: ReferenceKeyIndex,
  [from, rev]: [number, number],
): void {
  const empty = reference.isEmpty();
  assert.deepStrictEqual(packed.isEmpty(), empty);
  if (empty) return;
  assert.deepStrictEqual(packed.generations, reference.generations);
  assert.deepStrictEqual(packed.modified, reference.modified);
  assert.deepStrictEqual(packed.live(), reference.generations.at(-1)!.revs.length > 0);
  for (let at = from; at <= rev + 1; at++) {
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
    const random = mulberry32(seed);
    const packed = new KeyIndex("k");
    const reference = new ReferenceKeyIndex(new Uint8Array([107]), "k");
    // Every fourth seed crosses the largest main revision a packed revision holds (2^33).
    let rev = seed % 4 === 0 ? 2 ** 33 - 20 : 1;
    const from = rev - 1;
    let compacted = from;
    packed.put(rev, 0);
    reference.put(rev, 0);
    for (let step = 0; step < 40 && !reference.isEmpty(); step++) {
      const dice = random();
      rev++;
      const sub = _randomSub(random);
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
      _compareReads(packed, reference, [from, rev]);
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

Deno.test("TreeIndex.putKeyString and getKeyString act on the key whose string they get", () => {
  // Goal: the key-string forms (one string per put in the store) index the same key as put
  // and get with its bytes. Method: writes through either form, reads through the other.
  const index = new TreeIndex();
  const key = Uint8Array.of(0, 0x7f, 0x80, 0xff);
  const keyString = bytesToKeyString(key);
  index.putKeyString(keyString, { main: 2, sub: 0 });
  index.put(key, { main: 3, sub: 1 });
  assert.deepStrictEqual(index.get(key, 2)?.modified, { main: 2, sub: 0 });
  assert.deepStrictEqual(index.getKeyString(keyString, 3)?.modified, { main: 3, sub: 1 });
  assert.deepStrictEqual(index.getKeyString(keyString, 3)?.version, 2);
  assert.deepStrictEqual(index.getKeyString(bytesToKeyString(Uint8Array.of(0)), 3), undefined);
  assert.deepStrictEqual(index.all().length, 1);
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

/** The reference for a whole tree: one reference key index per key string. */
class _ReferenceTree {
  readonly keys = new Map<string, ReferenceKeyIndex>();

  put(keyString: string, main: number, sub: number): void {
    let ki = this.keys.get(keyString);
    if (ki === undefined) {
      ki = new ReferenceKeyIndex(keyStringToBytes(keyString), keyString);
      this.keys.set(keyString, ki);
    }
    ki.put(main, sub);
  }

  /** Keys of [low, high) (every key from low on when high is empty), in key order. */
  inRange(low: string, high: string): string[] {
    return [...this.keys.keys()].filter((k) => k >= low && (high === "" || k < high)).sort();
  }

  compact(rev: number): RevisionSet {
    const available: RevisionSet = new Map();
    for (const [keyString, ki] of this.keys) {
      ki.compact(rev, available);
      if (ki.isEmpty()) this.keys.delete(keyString);
    }
    return available;
  }
}

/** Twelve keys of 1 to 20 bytes, some with bytes above 0x7f, some sharing a prefix. */
function _keySpace(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < 12; i++) {
    const bytes = new Uint8Array(1 + ((i * 7) % 20)).fill(i % 3 === 0 ? 0xf0 + i : 0x61 + i);
    bytes[0] = i < 6 ? 0x61 : 0xe9;
    keys.push(bytesToKeyString(bytes));
  }
  return keys;
}

function _compareTree(index: TreeIndex, reference: _ReferenceTree, at: number[]): void {
  assert.deepStrictEqual(index.size, reference.keys.size);
  const all = index.all();
  assert.deepStrictEqual(all.map((ki) => ki.keyString), [...reference.keys.keys()].sort());
  let live = 0;
  for (const ki of all) {
    const ref = reference.keys.get(ki.keyString)!;
    assert.deepStrictEqual(ki.generations, ref.generations, ki.keyString);
    if (ki.live()) live++;
    for (const rev of at) {
      assert.deepStrictEqual(index.get(ki.key, rev), ref.get(rev), `get(${rev})`);
    }
  }
  assert.deepStrictEqual(index.countLive(), live);
}

function _compareRange(
  index: TreeIndex,
  reference: _ReferenceTree,
  [low, high]: [string, string | undefined],
  [rev, limit]: [number, number],
): void {
  const found = index.revisions(
    keyStringToBytes(low),
    high === undefined ? undefined : keyStringToBytes(high),
    rev,
    limit,
  );
  const keys = high === undefined
    ? (reference.keys.has(low) ? [low] : [])
    : reference.inRange(low, high);
  const existing = keys.filter((k) => reference.keys.get(k)!.get(rev) !== undefined);
  const kept = limit > 0 ? existing.slice(0, limit) : existing;
  assert.deepStrictEqual(found.total, existing.length);
  assert.deepStrictEqual(found.keys, kept);
  assert.deepStrictEqual(found.revs, kept.map((k) => reference.keys.get(k)!.get(rev)!.modified));
  const since = index.rangeSince(
    keyStringToBytes(low),
    high === undefined ? undefined : keyStringToBytes(high),
    rev,
  );
  const expected = keys.flatMap((k) => reference.keys.get(k)!.since(rev));
  if (high !== undefined) expected.sort((a, b) => a.main - b.main || a.sub - b.sub);
  assert.deepStrictEqual(since, expected);
}

Deno.test("TreeIndex answers as reference key indexes over random writes, ranges, compactions", () => {
  const seeds = Number(Deno.env.get("KEY_INDEX_SEEDS") ?? "100") / 2;
  const forms = new Set<string>();
  const space = _keySpace();
  for (let seed = 1; seed <= seeds; seed++) {
    const random = mulberry32(1000 + seed);
    // Every third seed writes two keys and never compacts: their histories grow long.
    const keys = seed % 3 === 0 ? space.slice(0, 2) : space;
    const compactions = seed % 3 === 0 ? 0 : 0.1;
    const pick = () => keys[Math.floor(random() * keys.length)]!;
    const index = new TreeIndex();
    const reference = new _ReferenceTree();
    const from = seed % 4 === 0 ? 2 ** 33 - 40 : 1;
    let rev = from;
    let compacted = from - 1;
    for (let step = 0; step < 120; step++) {
      const dice = random();
      rev++;
      const sub = _randomSub(random);
      if (dice < 0.6) {
        const keyString = pick();
        index.put(keyStringToBytes(keyString), { main: rev, sub });
        reference.put(keyString, rev, sub);
      } else if (dice < 0.8) {
        const keyString = pick();
        const ref = reference.keys.get(keyString);
        const expected = ref === undefined ? false : ref.tombstone(rev, sub);
        assert.deepStrictEqual(
          index.tombstone(keyStringToBytes(keyString), { main: rev, sub }),
          expected,
        );
      } else if (dice < 0.8 + compactions) {
        const at = compacted + Math.floor(random() * (rev - compacted + 1));
        const keep = index.keep(at);
        const available = index.compact(at);
        const expected = reference.compact(at);
        assert.deepStrictEqual(_sorted(available), _sorted(expected), `seed ${seed}: compact`);
        assert.deepStrictEqual(_sorted(keep), _sorted(expected), `seed ${seed}: keep`);
        compacted = at;
      } else {
        const [a, b] = [pick(), pick()].sort();
        const ends = [undefined, "", b!];
        const high = ends[Math.floor(random() * ends.length)];
        const at = compacted + Math.floor(random() * (rev - compacted + 2));
        if (random() < 0.5) {
          _compareRange(index, reference, [a!, high], [at, Math.floor(random() * 3)]);
        } else {
          // A delete of the range: the keys live at the previous revision, one tombstone each.
          const toBytes = (s: string | undefined) => s === undefined ? s : keyStringToBytes(s);
          const deleted = index.tombstoneRange(keyStringToBytes(a!), toBytes(high), {
            atRev: rev - 1,
            main: rev,
            sub,
          });
          const keys = high === undefined
            ? (reference.keys.has(a!) ? [a!] : [])
            : reference.inRange(a!, high);
          const live = keys.filter((k) => reference.keys.get(k)!.get(rev - 1) !== undefined);
          live.forEach((k, i) => assert.ok(reference.keys.get(k)!.tombstone(rev, sub + i)));
          assert.deepStrictEqual(deleted, live);
        }
      }
      for (const ki of index.all()) forms.add(ki.form!);
      _compareTree(index, reference, [compacted, rev - 1, rev, rev + 1]);
    }
  }
  // The random histories went through every stored form.
  assert.deepStrictEqual([...forms].sort(), ["array", "packed", "string"]);
});

Deno.test("TreeIndex.restore rebuilds the index a replay of puts and tombstones gives", () => {
  const space = _keySpace();
  for (let seed = 1; seed <= 20; seed++) {
    const random = mulberry32(2000 + seed);
    const live = new TreeIndex();
    const restored = new TreeIndex();
    const reference = new _ReferenceTree();
    let rev = seed % 4 === 0 ? 2 ** 33 - 40 : 1;
    for (let step = 0; step < 80; step++) {
      rev++;
      const keyString = space[Math.floor(random() * space.length)]!;
      const key = keyStringToBytes(keyString);
      const sub = _randomSub(random);
      const tombstone = random() < 0.3;
      // What the store writes to the key bucket: a KeyValue with the create revision and
      // version of the key after the put (a tombstone carries neither).
      const before = live.get(key, rev);
      if (tombstone) {
        if (!live.tombstone(key, { main: rev, sub })) continue;
      } else {
        live.put(key, { main: rev, sub });
      }
      const found = {
        rev: { main: rev, sub },
        tombstone,
        createRevision: tombstone ? 0 : before?.created.main ?? rev,
        version: tombstone ? 0 : (before?.version ?? 0) + 1,
      };
      restored.restore(keyString, found);
      // The replay as the store did it before the tree held histories: a new key index seeded
      // with restore(), later revisions put or tombstoned on it.
      const ref = reference.keys.get(keyString);
      if (ref !== undefined) {
        if (tombstone) ref.tombstone(rev, sub);
        else ref.put(rev, sub);
      } else if (!tombstone) {
        const fresh = new ReferenceKeyIndex(key, keyString);
        fresh.restore({ main: found.createRevision, sub: 0 }, found.rev, found.version);
        reference.keys.set(keyString, fresh);
      }
      _compareTree(restored, reference, [rev - 1, rev]);
      // The compact forms may be stored at any point (a restore does it past a bound).
      if (random() < 0.05) restored.finishRestore();
    }
    // Once finished, only a history of more than 32 numbers (a header of 4 and two per
    // revision, per generation) is still an array, as a put stores it.
    restored.finishRestore();
    _compareTree(restored, reference, [rev - 1, rev]);
    for (const ki of restored.all()) {
      const numbers = ki.generations.reduce((n, g) => n + 4 + 2 * g.revs.length, 0);
      assert.ok(ki.form !== "array" || numbers > 32, `${ki.keyString}: ${numbers} numbers`);
    }
  }
});
