/**
 * The key tree against a plain sorted model (a Map and a sort): random inserts, overwrites
 * through find/replaceFound, range walks with every kind of bound, and compactions that remove
 * random entries; enough keys for a tree of three levels; `check()` of order, bounds and size
 * after each round.
 */
import assert from "node:assert/strict";
import { KeyTree } from "./key_tree.ts";
import { mulberry32 } from "../testing/mod.ts";

/** A key of 1 to 5 characters from a few latin1 code units, so that keys repeat and nest. */
function _randomKey(random: () => number): string {
  const units = [0x00, 0x30, 0x61, 0x62, 0x7f, 0x80, 0xe9, 0xff];
  let key = "";
  const length = 1 + Math.floor(random() * 5);
  for (let i = 0; i < length; i++) key += String.fromCharCode(units[Math.floor(random() * 8)]!);
  return key;
}

function _entries(tree: KeyTree<number>): [string, number][] {
  const entries: [string, number][] = [];
  tree.forEach((key, value) => entries.push([key, value]));
  return entries;
}

function _compareRange(
  tree: KeyTree<number>,
  model: Map<string, number>,
  [low, high, includeHigh]: [string, string | undefined, boolean],
): void {
  const found: [string, number][] = [];
  tree.forRange(low, high, includeHigh, (key, value) => found.push([key, value]));
  const expected = [...model].filter(([key]) =>
    key >= low && (high === undefined || key < high || (includeHigh && key === high))
  ).sort(([a], [b]) => a < b ? -1 : 1);
  assert.deepStrictEqual(found, expected, `range ${low} ${high} ${includeHigh}`);
}

Deno.test("KeyTree answers as a sorted map over inserts, overwrites, ranges and removals", () => {
  for (const [seed, rounds, insertsPerRound] of [[1, 30, 50], [2, 10, 4000], [3, 4, 12000]]) {
    const random = mulberry32(seed!);
    const tree = new KeyTree<number>();
    const model = new Map<string, number>();
    let value = 0;
    for (let round = 0; round < rounds!; round++) {
      for (let i = 0; i < insertsPerRound!; i++) {
        const key = _randomKey(random) + String(Math.floor(random() * 1000));
        value++;
        if (tree.find(key) !== undefined && random() < 0.5) {
          tree.replaceFound(key, value);
        } else {
          tree.set(key, value);
        }
        model.set(key, value);
      }
      tree.check();
      assert.deepStrictEqual(tree.size, model.size);
      assert.deepStrictEqual(
        _entries(tree),
        [...model].sort(([a], [b]) => a < b ? -1 : 1),
      );
      for (let i = 0; i < 20; i++) {
        const key = _randomKey(random);
        assert.deepStrictEqual(tree.find(key), model.get(key));
        const [low, high] = [_randomKey(random), _randomKey(random)].sort();
        _compareRange(tree, model, [low!, random() < 0.3 ? undefined : high, random() < 0.5]);
      }
      const sorted = [...model.keys()].sort();
      assert.deepStrictEqual(tree.maxKey(), sorted.at(-1));
      // A compaction: some values change, some entries leave (sometimes none, sometimes most).
      const share = [0, 0.1, 0.9][round % 3]!;
      tree.editAll((key, old) => {
        if (random() < share) {
          model.delete(key);
          return undefined;
        }
        if (old % 2 === 0) {
          model.set(key, old + 1);
          return old + 1;
        }
        return old;
      });
      tree.check();
      assert.deepStrictEqual(_entries(tree), [...model].sort(([a], [b]) => a < b ? -1 : 1));
    }
  }
});

Deno.test("KeyTree.replaceFound refuses a key the last find() did not find", () => {
  const tree = new KeyTree<number>();
  tree.set("a", 1);
  tree.set("b", 2);
  assert.deepStrictEqual(tree.find("a"), 1);
  assert.throws(() => tree.replaceFound("b", 3));
  assert.deepStrictEqual(tree.find("c"), undefined);
  assert.throws(() => tree.replaceFound("c", 3));
  tree.find("b");
  tree.set("c", 3);
  assert.throws(() => tree.replaceFound("b", 4));
  tree.find("b");
  tree.replaceFound("b", 4);
  assert.deepStrictEqual(_entries(tree), [["a", 1], ["b", 4], ["c", 3]]);
});

Deno.test("KeyTree emptied by editAll is an empty tree", () => {
  const tree = new KeyTree<number>();
  for (let i = 0; i < 500; i++) tree.set(`k${i}`, i);
  tree.editAll(() => undefined);
  tree.check();
  assert.deepStrictEqual(tree.size, 0);
  assert.deepStrictEqual(tree.maxKey(), undefined);
  assert.deepStrictEqual(tree.find("k1"), undefined);
  tree.set("z", 1);
  assert.deepStrictEqual(_entries(tree), [["z", 1]]);
});
