// Goal: the HPACK decoder follows RFC 7541 exactly, dynamic table included.
// Method: the RFC's own examples (Appendix C.3: requests without Huffman, C.4: the same with
// Huffman, decoded in sequence on one decoder) plus malformed inputs and the encoder's
// round trip through the decoder.
import assert from "node:assert/strict";
import { encodeInteger, encodeLiteral, HpackDecoder, HpackError, huffmanDecode } from "./hpack.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from "./_hpack_tables.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

const EXPECTED: [string, string][][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], [
    "cache-control",
    "no-cache",
  ]],
  [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [
    ":authority",
    "www.example.com",
  ], ["custom-key", "custom-value"]],
];

Deno.test("RFC 7541 C.3: three requests without Huffman share one dynamic table", () => {
  const decoder = new HpackDecoder();
  const blocks = [
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
  ];
  blocks.forEach((block, index) => assert.deepEqual(decoder.decode(hex(block)), EXPECTED[index]));
});

Deno.test("RFC 7541 C.4: the same requests with Huffman strings", () => {
  const decoder = new HpackDecoder();
  const blocks = [
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
  ];
  blocks.forEach((block, index) => assert.deepEqual(decoder.decode(hex(block)), EXPECTED[index]));
  assert.equal(huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f4ff")), "www.example.com");
});

Deno.test("malformed blocks throw HpackError", () => {
  const decoder = new HpackDecoder();
  assert.throws(() => decoder.decode(hex("80")), HpackError); // index 0
  assert.throws(() => decoder.decode(hex("ff00")), HpackError); // index beyond the table
  assert.throws(() => decoder.decode(hex("410f77")), HpackError); // truncated string
  assert.throws(() => decoder.decode(hex("3fe21f")), HpackError); // table size over 4096
  assert.throws(() => huffmanDecode(hex("00")), HpackError); // zero padding bits
});

Deno.test("encodeLiteral() output decodes back, large integers included", () => {
  const out: number[] = [];
  encodeLiteral(out, "content-type", "application/grpc");
  encodeLiteral(out, "grpc-message", "x".repeat(300));
  encodeLiteral(out, "grpc-status", "0");
  assert.deepEqual(new HpackDecoder().decode(Uint8Array.from(out)), [
    ["content-type", "application/grpc"],
    ["grpc-message", "x".repeat(300)],
    ["grpc-status", "0"],
  ]);
  const integer: number[] = [];
  encodeInteger(integer, 1337, 5, 0);
  assert.deepEqual(integer, [31, 154, 10]); // RFC 7541 C.1.2
});

/** The code units `codes` Huffman-coded (RFC 7541 §5.2), padded with one-bits. */
function huffmanEncode(codes: readonly number[]): Uint8Array {
  const out: number[] = [];
  let pending = 0;
  let pendingBits = 0;
  for (const symbol of codes) {
    const length = HUFFMAN_LENGTHS[symbol]!;
    const code = HUFFMAN_CODES[symbol]!;
    for (let bit = length - 1; bit >= 0; bit--) {
      pending = (pending << 1) | ((code >>> bit) & 1);
      if (++pendingBits === 8) {
        out.push(pending);
        pending = 0;
        pendingBits = 0;
      }
    }
  }
  if (pendingBits > 0) out.push((pending << (8 - pendingBits)) | (0xff >> pendingBits));
  return Uint8Array.from(out);
}

Deno.test("huffmanDecode() gives every byte value back, short and long strings alike", () => {
  // Goal: the string built in one call from the decoded codes is the string of those code
  // units, for all 256 symbols and for lengths on both sides of one call's limit (4096).
  // Method: seeded random byte strings Huffman-coded by the table, decoded, compared; strings
  // decoded one after another share the decoder's scratch, so a longer one comes before a
  // shorter one too.
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return seed >>> 16;
  };
  const all = Array.from({ length: 256 }, (_, code) => code);
  assert.equal(huffmanDecode(huffmanEncode(all)), String.fromCharCode(...all));
  for (const length of [0, 1, 8, 12, 13, 100, 4095, 4096, 4097, 9000, 3, 20_000, 5]) {
    const codes = Array.from({ length }, () => next() & 0xff);
    const text = codes.map((code) => String.fromCharCode(code)).join("");
    assert.equal(huffmanDecode(huffmanEncode(codes)), text, `length ${length}`);
  }
});

Deno.test("indexed static fields are the static table's own entries, unchanged", () => {
  // Goal: indexed static fields cost no copy per block (the entries are typed readonly, so
  // nobody can change them). Method: decode indexed fields twice; both times the field is the
  // table's own entry, with the RFC's values.
  const decoder = new HpackDecoder();
  const first = decoder.decode(hex("8286"));
  const second = decoder.decode(hex("8286"));
  assert.equal(first[0], STATIC_TABLE[2]);
  assert.equal(second[0], first[0]);
  assert.deepEqual(second, [[":method", "GET"], [":scheme", "http"]]);
});

Deno.test("a block's list holds its own fields only, after a longer block and a failed one", () => {
  // Goal: the decoder's reused field list never leaks fields of an earlier block into a later
  // one's result. Method: a block of five fields, a malformed block, then a block of two on
  // the same decoder; the lists are compared whole, and the first is unchanged afterwards.
  const decoder = new HpackDecoder();
  const five = decoder.decode(hex("8286848487"));
  assert.throws(() => decoder.decode(hex("8286ff00")), HpackError);
  const two = decoder.decode(hex("8387"));
  assert.deepEqual(two, [[":method", "POST"], [":scheme", "https"]]);
  assert.deepEqual(five, [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":path", "/"],
    [":scheme", "https"],
  ]);
});
