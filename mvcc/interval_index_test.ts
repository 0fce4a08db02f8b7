/**
 * Goal: the interval index finds exactly the ranges covering a key, whether it answers by a
 * linear scan (just after a change) or by its tree (once the ranges settled), through adds and
 * deletes of values and ranges. Method: random ranges over a small alphabet (so that starts,
 * ends and keys collide often, and "" ends appear), compared after every step with a brute
 * force over the same ranges.
 */
import assert from "node:assert/strict";
import { IntervalIndex } from "./interval_index.ts";
import { prng } from "./_model_test_util.ts";

const ALPHABET = ["", "a", "ab", "b", "ba", "bb", "c", "d", "\xff", "\xff\xff"];

function covering(index: IntervalIndex<number>, key: string): number[] {
  const out: number[] = [];
  index.forEachCovering(key, (values) => {
    for (const v of values) out.push(v);
  });
  return out.sort((a, b) => a - b);
}

Deno.test("the interval index finds exactly the covering ranges, scanning or by tree", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rand = prng(seed);
    const pick = () => ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
    const index = new IntervalIndex<number>();
    const live = new Map<number, { start: string; end: string }>();
    let next = 0;
    for (let step = 0; step < 400; step++) {
      const r = rand();
      if (r < 0.35) {
        const start = pick();
        const end = rand() < 0.2 ? "" : pick();
        if (end !== "" && start >= end) {
          assert.throws(() => index.add(start, end, next), RangeError);
          continue;
        }
        index.add(start, end, next);
        live.set(next++, { start, end });
      } else if (r < 0.5 && live.size > 0) {
        const ids = [...live.keys()];
        const id = ids[Math.floor(rand() * ids.length)]!;
        const { start, end } = live.get(id)!;
        assert.equal(index.delete(start, end, id), true);
        assert.equal(index.delete(start, end, id), false);
        live.delete(id);
      } else {
        // Lookups, many in a row at times, so that the tree gets built and used.
        for (let n = rand() < 0.2 ? 40 : 1; n > 0; n--) {
          const key = pick() + (rand() < 0.3 ? "a" : "");
          const want = [...live].filter(([, { start, end }]) =>
            start <= key && (end === "" || key < end)
          ).map(([id]) => id).sort((a, b) => a - b);
          assert.deepEqual(covering(index, key), want, `seed ${seed} step ${step} key ${key}`);
        }
      }
      const distinct = new Set([...live.values()].map(({ start, end }) => `${start}\0${end}`));
      assert.equal(index.rangeCount, distinct.size);
    }
  }
});

Deno.test("a lookup can stop at the first covering range", () => {
  const index = new IntervalIndex<string>();
  index.add("a", "c", "x");
  index.add("a", "", "y");
  index.add("b", "z", "z");
  let calls = 0;
  index.forEachCovering("b", () => {
    calls++;
    return true;
  });
  assert.equal(calls, 1);
});
