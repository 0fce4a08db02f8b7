// Goal: the HPACK decoder follows RFC 7541 exactly, dynamic table included.
// Method: the RFC's own examples (Appendix C.3: requests without Huffman, C.4: the same with
// Huffman, decoded in sequence on one decoder) plus malformed inputs and the encoder's
// round trip through the decoder.
import assert from "node:assert/strict";
import { encodeInteger, encodeLiteral, HpackDecoder, HpackError, huffmanDecode } from "./hpack.ts";

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
