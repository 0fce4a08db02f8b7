// Goal: the chunk queue the stream decoders read from peeks and takes across chunk borders.
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { ByteQueue } from "./byte_queue.ts";

Deno.test("ByteQueue peeks and takes across chunk boundaries", () => {
  const queue = new ByteQueue();
  queue.push(Uint8Array.of(0, 0, 0));
  queue.push(Uint8Array.of(0, 0, 1, 2));
  queue.push(Uint8Array.of(3, 9, 8));
  strictEqual(queue.length, 10);
  strictEqual(queue.peekUint64(0), 0x010203n);
  strictEqual(queue.peekUint8(8), 9);
  strictEqual(queue.takeUint64(), 0x010203n);
  deepStrictEqual([...queue.take(1)], [9]);
  deepStrictEqual(queue.drain().flatMap((c) => [...c]), [8]);
  strictEqual(queue.length, 0);
  throws(() => queue.take(1), RangeError);
});

Deno.test("ByteQueue.take returns a view inside one chunk and a copy across chunks", () => {
  const first = Uint8Array.of(1, 2, 3, 4);
  const queue = new ByteQueue();
  queue.push(first);
  queue.push(Uint8Array.of(5, 6));
  const view = queue.take(2);
  strictEqual(view.buffer, first.buffer);
  deepStrictEqual([...queue.take(3)], [3, 4, 5]);
  strictEqual(queue.length, 1);
});

// Goal: peekUint64Number/takeUint64Number read what Number(peekUint64(...)) reads, without
// BigInt arithmetic: exact below 2^53, the same rounding above it. Method: seeded random and
// edge values (0, 2^32 - 1, 2^32, 2^53 - 1, 2^53 + 1, odd values near 2^64), each cut into
// chunks at every position, at offsets 0 and 3.
Deno.test("ByteQueue.peekUint64Number() equals Number(peekUint64()) at every cut", () => {
  const values = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n];
  values.push(2n ** 64n - 1n, 2n ** 64n - 2049n, 2n ** 63n + 1025n, 512n * 1024n * 1024n + 1n);
  let seed = 12345;
  for (let i = 0; i < 50; i++) {
    let v = 0n;
    for (let b = 0; b < 8; b++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      v = (v << 8n) | BigInt(seed & 0xff);
    }
    values.push(v);
  }
  for (const value of values) {
    const bytes = new Uint8Array(11);
    new DataView(bytes.buffer).setBigUint64(3, value);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const queue = new ByteQueue();
      queue.push(bytes.subarray(0, cut));
      queue.push(bytes.subarray(cut));
      strictEqual(queue.peekUint64Number(3), Number(value), `${value} cut at ${cut}`);
      strictEqual(queue.peekUint64Number(3), Number(queue.peekUint64(3)));
      queue.take(3);
      strictEqual(queue.takeUint64Number(), Number(value));
      strictEqual(queue.length, 0);
    }
  }
});
