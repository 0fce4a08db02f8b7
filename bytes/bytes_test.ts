// Goal: the shared byte helpers order, compare, join and grow exactly as their callers (the
// B+tree, the key index, the WAL and protobuf encoders) rely on. Method: small tables plus a
// seeded comparison against a latin1-string ordering, which sorts in byte order; the slab's
// views are checked for disjointness across slab boundaries.
import assert, { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { mulberry32 } from "../testing/mod.ts";
import { compareBytes, concatBytes, equalBytes, GrowableBuffer, Slab } from "./mod.ts";

const b = (...values: number[]) => Uint8Array.from(values);

Deno.test("compareBytes() orders by the first differing byte, then by length", () => {
  strictEqual(compareBytes(b(), b()), 0);
  strictEqual(compareBytes(b(1, 2), b(1, 2)), 0);
  strictEqual(Math.sign(compareBytes(b(1), b(2))), -1);
  strictEqual(Math.sign(compareBytes(b(0xff), b(0x00, 0xff))), 1);
  strictEqual(Math.sign(compareBytes(b(1, 2), b(1, 2, 0))), -1);
  strictEqual(Math.sign(compareBytes(b(1, 2, 0), b(1, 2))), 1);
});

Deno.test("compareBytes() agrees with latin1 string order on random keys", () => {
  const random = mulberry32(9);
  const key = () => Uint8Array.from({ length: Math.floor(random() * 5) }, () => random() * 4);
  const latin1 = (k: Uint8Array) => String.fromCharCode(...k);
  for (let i = 0; i < 2000; i++) {
    const x = key();
    const y = key();
    const expected = latin1(x) < latin1(y) ? -1 : latin1(x) > latin1(y) ? 1 : 0;
    strictEqual(Math.sign(compareBytes(x, y)), expected);
    strictEqual(equalBytes(x, y), expected === 0);
  }
});

Deno.test("equalBytes() needs the same length and the same bytes", () => {
  strictEqual(equalBytes(b(), b()), true);
  strictEqual(equalBytes(b(1, 2), b(1, 2)), true);
  strictEqual(equalBytes(b(1, 2), b(1, 3)), false);
  strictEqual(equalBytes(b(1), b(1, 0)), false);
});

Deno.test("concatBytes() joins parts in order into a new array", () => {
  const first = b(1, 2);
  const joined = concatBytes([first, b(), b(3)]);
  deepStrictEqual(joined, b(1, 2, 3));
  joined[0] = 9;
  strictEqual(first[0], 1);
  deepStrictEqual(concatBytes([]), b());
});

Deno.test("GrowableBuffer keeps written bytes across growth and reuses its allocation", () => {
  const buffer = new GrowableBuffer(2);
  for (let i = 0; i < 100; i++) {
    buffer.ensure(1);
    buffer.bytes[buffer.length++] = i;
  }
  strictEqual(buffer.length, 100);
  strictEqual(buffer.bytes.length, 128);
  deepStrictEqual(buffer.bytes.subarray(0, 100), Uint8Array.from({ length: 100 }, (_, i) => i));
  buffer.ensure(4);
  buffer.view.setUint32(buffer.length, 0x01020304, true);
  strictEqual(buffer.bytes[buffer.length], 4);
  const backing = buffer.bytes;
  buffer.reset();
  buffer.ensure(100);
  strictEqual(buffer.bytes, backing);
  throws(() => new GrowableBuffer(0), RangeError);
});

Deno.test("Slab.alloc() carves disjoint zeroed views and gives large requests their own array", () => {
  const slab = new Slab(1024);
  const views = Array.from({ length: 40 }, (_, i) => slab.copy(new Uint8Array(50).fill(i + 1)));
  // 40 * 50 bytes span two slabs of 1024: every view still holds its own bytes.
  views.forEach((view, i) => assert.deepEqual([...new Set(view)], [i + 1]));
  assert.notEqual(views[0]!.buffer, views[39]!.buffer);
  assert.equal(views[0]!.buffer, views[1]!.buffer);
  const fresh = slab.alloc(100);
  assert.deepEqual([...new Set(fresh)], [0]);
  const large = slab.alloc(128);
  assert.equal(large.byteLength, large.buffer.byteLength);
  assert.throws(() => slab.alloc(-1), RangeError);
  assert.throws(() => new Slab(10), RangeError);
});

Deno.test("Slab.copyRange() copies short ranges by loop and long ones by set, alike", () => {
  const slab = new Slab(64 * 1024);
  const source = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251);
  for (const [start, end] of [[0, 0], [5, 300], [100, 1124], [1, 1126], [0, 3000]] as const) {
    const copy = slab.copyRange(source, start, end);
    assert.deepEqual(copy, source.slice(start, end));
    assert.notEqual(copy.buffer, source.buffer);
  }
  assert.throws(() => slab.copyRange(source, 10, 5), RangeError);
  assert.throws(() => slab.copyRange(source, 0, 3001), RangeError);
});
