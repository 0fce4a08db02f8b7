/** ProtoReader.int64 against ProtoWriter.int64 around the edges of its number fast path. */
import assert from "node:assert/strict";
import { ProtoDecodeError, ProtoReader, ProtoWriter } from "./wire.ts";

Deno.test("int64 reads back what int64 wrote, short varints and long ones", () => {
  const values = [
    0,
    1,
    127,
    128,
    2 ** 35,
    2 ** 42 - 1,
    2 ** 49 - 1,
    2 ** 49,
    2 ** 52 + 3,
    Number.MAX_SAFE_INTEGER,
    -1,
    -128,
    -(2 ** 40),
    -Number.MAX_SAFE_INTEGER,
  ];
  for (const value of values) {
    const w = new ProtoWriter();
    w.int64(value);
    w.int64(value);
    const r = new ProtoReader(w.finish());
    assert.equal(r.int64(), value);
    assert.equal(r.int64(), value);
    assert.equal(r.more(), false);
  }
});

Deno.test("int64 refuses a truncated varint and one outside the safe range", () => {
  assert.throws(() => new ProtoReader(new Uint8Array([0x80, 0x80])).int64(), ProtoDecodeError);
  // 2^62: nine bytes, beyond 2^53.
  const big = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
  assert.throws(() => new ProtoReader(big).int64(), ProtoDecodeError);
});
