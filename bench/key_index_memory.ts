/**
 * Heap bytes per key of the key index (`mvcc/key_index.ts` TreeIndex), built in-process in three
 * shapes, and the time of its hot operations.
 *
 *     deno run -A --v8-flags=--expose-gc bench/key_index_memory.ts [keys] [checkout]
 *
 * keys: 1,000,000 by default; checkout: another detcd tree whose TreeIndex to measure (for an
 * A/B of two versions, run one after the other). `KEY_BYTES` (default 32) sets the key length.
 * Keys are built as the load generator builds them: the varint of a number below `keys`, padded
 * with zero bytes to `KEY_BYTES`, put in a random (seeded) order.
 *
 * Shapes, each in a fresh index:
 * - one revision: one put per key;
 * - three revisions: three puts per key (three passes over the keys);
 * - two generations: put, delete, put per key (the key deleted and re-created).
 *
 * For each, heap used after a forced full GC, before and after building, divided by the keys;
 * then the time per put (while building the first shape), per get of one key, and per range of
 * 1,000 consecutive keys (`revisions`).
 *
 * @module
 */

import { mulberry32 } from "../testing/mod.ts";

const keyCount = Number(Deno.args[0] ?? 1_000_000);
const root = Deno.args[1] ?? new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const keyBytes = Number(Deno.env.get("KEY_BYTES") ?? 32);
const _GET_OPS = 300_000;
const _RANGE_OPS = 300;
const _RANGE_KEYS = 1000;

interface _Revision {
  main: number;
  sub: number;
}
interface _TreeIndex {
  readonly size: number;
  put(key: Uint8Array, rev: _Revision): void;
  tombstone(key: Uint8Array, rev: _Revision): boolean;
  get(key: Uint8Array, atRev: number): { modified: _Revision } | undefined;
  revisions(
    key: Uint8Array,
    end: Uint8Array | undefined,
    atRev: number,
    limit?: number,
  ): { total: number };
}

const { TreeIndex } = await import(`${root}/mvcc/key_index.ts`) as {
  TreeIndex: new () => _TreeIndex;
};
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

/** All keys in one buffer (views are made per operation), in put order. */
function _buildKeys(): Uint8Array {
  const all = new Uint8Array(keyCount * keyBytes);
  const order = Array.from({ length: keyCount }, (_, i) => i);
  const random = mulberry32(7);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let i = 0; i < keyCount; i++) {
    // Go's binary.PutVarint: zigzag, then 7 bits a byte, low first.
    let v = order[i]! * 2;
    let at = i * keyBytes;
    while (v >= 0x80) {
      all[at++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    all[at] = v;
  }
  return all;
}

const keys = _buildKeys();
const _key = (i: number): Uint8Array => keys.subarray(i * keyBytes, (i + 1) * keyBytes);

function _heapUsed(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

function _fmt(n: number, digits = 0): string {
  return n.toFixed(digits).padStart(8);
}

interface _Shape {
  name: string;
  build(index: _TreeIndex): number;
}

const shapes: _Shape[] = [
  {
    name: "one revision",
    build(index) {
      let rev = 1;
      for (let i = 0; i < keyCount; i++) index.put(_key(i), { main: ++rev, sub: 0 });
      return rev;
    },
  },
  {
    name: "three revisions",
    build(index) {
      let rev = 1;
      for (let pass = 0; pass < 3; pass++) {
        for (let i = 0; i < keyCount; i++) index.put(_key(i), { main: ++rev, sub: 0 });
      }
      return rev;
    },
  },
  {
    name: "two generations",
    build(index) {
      let rev = 1;
      for (let i = 0; i < keyCount; i++) index.put(_key(i), { main: ++rev, sub: 0 });
      for (let i = 0; i < keyCount; i++) {
        if (!index.tombstone(_key(i), { main: ++rev, sub: 0 })) throw new Error("not live");
      }
      for (let i = 0; i < keyCount; i++) index.put(_key(i), { main: ++rev, sub: 0 });
      return rev;
    },
  },
];

/** Builds one shape in a fresh index and prints its bytes per key; returns the index. */
function _measure(shape: _Shape): { index: _TreeIndex; rev: number; buildMs: number } {
  const before = _heapUsed();
  const index = new TreeIndex();
  const started = performance.now();
  const rev = shape.build(index);
  const buildMs = performance.now() - started;
  const after = _heapUsed();
  if (index.size !== keyCount) throw new Error(`index holds ${index.size} keys`);
  console.log(
    `${shape.name.padEnd(18)} ${_fmt((after - before) / keyCount, 1)}  ${
      _fmt((after - before) / 2 ** 20, 1)
    }  ${_fmt(buildMs / 1000, 2)}`,
  );
  return { index, rev, buildMs };
}

console.log(`TreeIndex of ${root}: ${keyCount} keys of ${keyBytes} bytes`);
console.log("shape               bytes/key  heap MiB  build s");
// Each index but the last is dropped inside _measure's frame, before the next baseline.
const putNsPerOp = _measure(shapes[0]!).buildMs * 1e6 / keyCount;
_measure(shapes[1]!);
const { index, rev: lastRev } = _measure(shapes[2]!);

// Timings on the last index (two generations, the live one with one revision).
const random = mulberry32(11);
let started = performance.now();
let found = 0;
for (let i = 0; i < _GET_OPS; i++) {
  if (index.get(_key(Math.floor(random() * keyCount)), lastRev) !== undefined) found++;
}
const getNs = (performance.now() - started) * 1e6 / _GET_OPS;
if (found !== _GET_OPS) throw new Error("a get missed");

// Ranges of 1,000 consecutive keys: their bounds from the keys in byte order.
const sorted = Array.from({ length: keyCount }, (_, i) => i).sort((a, b) => {
  const x = _key(a);
  const y = _key(b);
  for (let j = 0; j < keyBytes; j++) if (x[j] !== y[j]) return x[j]! - y[j]!;
  return 0;
});
started = performance.now();
for (let i = 0; i < _RANGE_OPS; i++) {
  const at = Math.floor(random() * (keyCount - _RANGE_KEYS));
  const { total } = index.revisions(
    _key(sorted[at]!),
    _key(sorted[at + _RANGE_KEYS]!),
    lastRev,
  );
  if (total !== _RANGE_KEYS) throw new Error(`range found ${total} keys`);
}
const rangeUs = (performance.now() - started) * 1e3 / _RANGE_OPS;
console.log(
  `put ${putNsPerOp.toFixed(0)} ns/op (new key)  get ${getNs.toFixed(0)} ns/op  ` +
    `range of ${_RANGE_KEYS} keys ${rangeUs.toFixed(0)} µs/op`,
);
