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
