// Goal: Node.split cuts exactly where bbolt's split/splitTwo cut (one cut, then the same rule on
// what is left), while copying each element once. Method: a reference model of bbolt's loop
// written here over plain sizes, compared with split() on leaves and branches of many sizes and
// fill percents; every part is checked to fit its page and to keep bbolt's minimum of keys.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Bucket } from "./bucket.ts";
import { type Inode, Node } from "./node.ts";
import {
  BRANCH_ELEMENT_SIZE,
  LEAF_ELEMENT_SIZE,
  MIN_KEYS_PER_PAGE,
  PAGE_HEADER_SIZE,
} from "./page.ts";

const PAGE_SIZE = 4096;

/** A bucket as far as split() looks at it: its fill percent and its transaction's counters. */
function _bucket(fillPercent: number): Bucket {
  return { fillPercent, tx: { stats: { split: 0 } } } as unknown as Bucket;
}

/** bbolt's splitTwo applied again and again to what is left: the sizes of the parts. */
function _referenceParts(sizes: number[], elementSize: number, fillPercent: number): number[] {
  const fill = Math.min(1, Math.max(0.1, fillPercent));
  const threshold = Math.floor(PAGE_SIZE * fill);
  const parts: number[] = [];
  // `rest` is sizes[start:], kept as an offset: the model stays linear for 100,000 elements.
  let start = 0;
  for (;;) {
    const restLength = sizes.length - start;
    let total = PAGE_HEADER_SIZE;
    for (let i = start; i < sizes.length && total < PAGE_SIZE; i++) {
      total += elementSize + sizes[i]!;
    }
    if (restLength <= MIN_KEYS_PER_PAGE * 2 || total < PAGE_SIZE) break;
    let size = PAGE_HEADER_SIZE;
    let index = 0;
    for (let i = 0; i < restLength - MIN_KEYS_PER_PAGE; i++) {
      index = i;
      const element = elementSize + sizes[start + i]!;
      if (i >= MIN_KEYS_PER_PAGE && size + element > threshold) break;
      size += element;
    }
    parts.push(index);
    start += index;
  }
  parts.push(sizes.length - start);
  return parts;
}

/** Element payload sizes from a small seeded generator (keys and values of 1 to 300 bytes). */
function _sizes(count: number, seed: number): number[] {
  let state = seed;
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    sizes.push(1 + (state % 300));
  }
  return sizes;
}

function _node(bucket: Bucket, isLeaf: boolean, sizes: number[]): Node {
  const node = new Node(bucket, null);
  node.isLeaf = isLeaf;
  node.inodes = sizes.map((size, i): Inode => ({
    flags: 0,
    pgid: i,
    key: new Uint8Array(Math.ceil(size / 2)),
    value: new Uint8Array(Math.floor(size / 2)),
  }));
  return node;
}

Deno.test("split() cuts where bbolt's repeated splitTwo cuts, for leaves and branches", () => {
  for (const isLeaf of [true, false]) {
    const elementSize = isLeaf ? LEAF_ELEMENT_SIZE : BRANCH_ELEMENT_SIZE;
    for (const fillPercent of [0.05, 0.5, 0.9, 1, 1.5]) {
      for (const count of [0, 3, 5, 40, 1000, 20_000]) {
        const sizes = _sizes(count, count + 7);
        const bucket = _bucket(fillPercent);
        const node = _node(bucket, isLeaf, sizes);
        const original = node.inodes;
        const parts = node.split(PAGE_SIZE);
        const label = `leaf=${isLeaf} fill=${fillPercent} count=${count}`;
        deepStrictEqual(
          parts.map((part) => part.inodes.length),
          _referenceParts(sizes, elementSize, fillPercent),
          label,
        );
        // The parts hold the original elements in order, all under one parent.
        deepStrictEqual(parts.flatMap((part) => part.inodes), original, label);
        strictEqual(parts[0], node, label);
        strictEqual(bucket.tx.stats.split, parts.length - 1, label);
        if (parts.length > 1) {
          ok(node.parent !== null, label);
          deepStrictEqual(node.parent.children, parts, label);
          for (const part of parts) {
            strictEqual(part.parent, node.parent, label);
            strictEqual(part.isLeaf, isLeaf, label);
            ok(part.inodes.length >= MIN_KEYS_PER_PAGE, label);
          }
        } else {
          strictEqual(node.parent, null, label);
        }
      }
    }
  }
});

Deno.test("split() of the 100,000 tombstones of one DeleteRange: every element in one part", () => {
  // The tombstones of one DeleteRange of 100,000 keys: 17-byte revision keys, short values.
  const sizes = new Array<number>(100_000).fill(17 + 30);
  const node = _node(_bucket(0.9), true, sizes);
  const parts = node.split(PAGE_SIZE);
  deepStrictEqual(
    parts.map((part) => part.inodes.length),
    _referenceParts(sizes, LEAF_ELEMENT_SIZE, 0.9),
  );
  strictEqual(parts.reduce((sum, part) => sum + part.inodes.length, 0), 100_000);
});
