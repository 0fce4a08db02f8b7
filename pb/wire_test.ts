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

/** The BigInt-per-group decoder uint64Big replaced: the reference for the test below. */
function _uint64BigReference(bytes: Uint8Array): bigint {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (i >= bytes.length) throw new ProtoDecodeError("unexpected end of varint");
    const b = bytes[i]!;
    result |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return BigInt.asUintN(64, result);
    shift += 7n;
  }
  throw new ProtoDecodeError("varint longer than 10 bytes");
}

// Goal: uint64Big, which sums 7-bit groups as numbers, reads every varint as the BigInt-per-group
// decoder did: the same value (bits past 64 dropped), the same bytes consumed, the same errors.
// Method: edge values written by uint64Big, then seeded random varints of 1-10 bytes (the last
// byte of a 10-byte one carrying bits past 64), truncated ones and an 11-byte one.
Deno.test("uint64Big reads every varint as the BigInt-per-group decoder did", () => {
  const edges = [0n, 1n, 127n, 128n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 53n - 1n, 2n ** 53n];
  edges.push(2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 0x8e9e05c52164694dn);
  for (const value of edges) {
    const w = new ProtoWriter();
    w.uint64Big(value);
    w.uint32(5);
    const r = new ProtoReader(w.finish());
    assert.equal(r.uint64Big(), value);
    assert.equal(r.uint32(), 5);
  }
  let seed = 99;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) & 0xff;
  for (let n = 0; n < 5000; n++) {
    const length = 1 + (n % 10);
    const bytes = new Uint8Array(length + 1);
    // Continuation bytes have their top bit set, the last one not (a 10-byte varint's last
    // byte then carries bits 63-69, of which uint64 keeps bit 63).
    for (let i = 0; i < length; i++) bytes[i] = i < length - 1 ? next() | 0x80 : next() & 0x7f;
    bytes[length] = 7;
    const r = new ProtoReader(bytes);
    assert.equal(r.uint64Big(), _uint64BigReference(bytes));
    assert.equal(r.uint32(), 7);
  }
  const truncated = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.throws(() => _uint64BigReference(truncated), ProtoDecodeError);
  assert.throws(() => new ProtoReader(truncated).uint64Big(), ProtoDecodeError);
  const eleven = new Uint8Array(11).fill(0xff);
  assert.throws(() => _uint64BigReference(eleven), /longer than 10 bytes/);
  assert.throws(() => new ProtoReader(eleven).uint64Big(), /longer than 10 bytes/);
});

/** The BigInt-per-group encoder ProtoWriter.uint64Big replaced: the reference for the test below. */
function _uint64BigBytesReference(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

// Goal: ProtoWriter.uint64Big, which shifts two 32-bit numbers, writes the bytes the
// BigInt-per-group encoder wrote, and still refuses values outside [0, 2^64). Method: edge values
// around every 7-bit and 32-bit boundary and seeded random 64-bit values, compared byte for byte.
Deno.test("ProtoWriter.uint64Big writes the bytes of the BigInt-per-group encoder", () => {
  const values = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 64n - 1n];
  for (let bit = 0n; bit < 64n; bit++) values.push(2n ** bit, 2n ** bit - 1n, 2n ** bit + 1n);
  let seed = 7;
  for (let n = 0; n < 2000; n++) {
    let v = 0n;
    for (let b = 0; b < 8; b++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      v = (v << 8n) | BigInt((seed >> 8) & 0xff);
    }
    values.push(v >> BigInt(n % 64));
  }
  for (const value of values) {
    const w = new ProtoWriter();
    w.uint64Big(value);
    assert.deepEqual([...w.finish()], _uint64BigBytesReference(value), `${value}`);
  }
  assert.throws(() => new ProtoWriter().uint64Big(-1n), RangeError);
  assert.throws(() => new ProtoWriter().uint64Big(2n ** 64n), RangeError);
});

// Goal: uint64Big's cache of recent large values (IDs) never returns a stale value. Method: six
// distinct values of 2^53 and above, more than the cache holds, each also with bits past 64 set
// (which Go drops), read round-robin several times, against the BigInt-per-group decoder.
Deno.test("uint64Big reads repeated and alternating large values exactly", () => {
  const values = [0x8e9e05c52164694dn, 0x91bc3c398fb3c146n, 2n ** 53n, 2n ** 64n - 1n];
  values.push(0xfd422379fda50e48n, 0x8e9e05c52164694cn);
  const encodings = values.map((value) => {
    const w = new ProtoWriter();
    w.uint64Big(value);
    return w.finish();
  });
  // The same value as a 10-byte varint whose last byte also carries bits 64-69.
  encodings.push(
    ...encodings.filter((e) => e.length === 10).map((e) => {
      const wide = e.slice();
      wide[9] = wide[9]! | 0x7e;
      return wide;
    }),
  );
  for (let round = 0; round < 5; round++) {
    for (const bytes of encodings) {
      assert.equal(new ProtoReader(bytes).uint64Big(), _uint64BigReference(bytes));
    }
    for (const bytes of encodings.toReversed()) {
      assert.equal(new ProtoReader(bytes).uint64Big(), _uint64BigReference(bytes));
    }
  }
});
