/**
 * Encode/decode speed of the generated protobuf codecs on the hot messages: PutRequest
 * (8-byte key, 256-byte value) and RangeResponse (1 and 100 key-values). The baseline, run in
 * the same process, is JSON.stringify/parse of the same content, so the figures read as
 * ratios ("protobuf takes 0.3x the time of JSON").
 *
 * Run: `deno run -A bench/kv_codec.ts`.
 *
 * @module
 */

import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { numberToLong, numberToULong } from "../etcdserverpb/mod.ts";

const ITERATIONS = 200_000;

function timeNsPerOp(iterations: number, body: () => void): number {
  for (let index = 0; index < Math.min(20_000, iterations); index++) body(); // warm up
  const started = performance.now();
  for (let index = 0; index < iterations; index++) body();
  return ((performance.now() - started) * 1e6) / iterations;
}

function keyValue(index: number): etcdserverpb.RangeResponse.$Properties["kvs"] & object {
  return [{
    key: new TextEncoder().encode(`key-${String(index).padStart(8, "0")}`),
    value: new Uint8Array(256).fill(0x76),
    createRevision: numberToLong(1000 + index),
    modRevision: numberToLong(2000 + index),
    version: numberToLong(3),
  }];
}

function rangeResponse(count: number): etcdserverpb.RangeResponse.$Properties {
  const kvs = Array.from({ length: count }, (_, index) => keyValue(index)).flat();
  return {
    header: {
      clusterId: numberToULong(0x1c5ad2f2),
      memberId: numberToULong(0x7a1c),
      revision: numberToLong(123456),
      raftTerm: numberToULong(7),
    },
    kvs,
    count: numberToLong(count),
  };
}

/** JSON stand-in of a message: bytes as latin1 strings, Longs as numbers. */
function jsonable(value: unknown): unknown {
  if (value instanceof Uint8Array) return String.fromCharCode(...value);
  if (Array.isArray(value)) return value.map(jsonable);
  if (value !== null && typeof value === "object") {
    if ("low" in value && "high" in value) {
      return (value as unknown as { toNumber(): number }).toNumber();
    }
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) out[key] = jsonable(field);
    return out;
  }
  return value;
}

function report(
  name: string,
  message: object,
  encode: () => Uint8Array,
  decode: (b: Uint8Array) => unknown,
): void {
  const bytes = encode();
  const json = jsonable(message);
  const text = JSON.stringify(json);
  const iterations = Math.max(2_000, Math.floor(ITERATIONS / Math.max(1, bytes.length / 300)));
  const encodeNs = timeNsPerOp(iterations, () => void encode());
  const decodeNs = timeNsPerOp(iterations, () => void decode(bytes));
  const jsonEncodeNs = timeNsPerOp(iterations, () => void JSON.stringify(json));
  const jsonDecodeNs = timeNsPerOp(iterations, () => void JSON.parse(text));
  console.log(
    `${name.padEnd(26)} ${String(bytes.length).padStart(6)} B  encode ${
      encodeNs.toFixed(0).padStart(6)
    } ns ` +
      `(${(encodeNs / jsonEncodeNs).toFixed(2)}x JSON)  decode ${
        decodeNs.toFixed(0).padStart(6)
      } ns ` +
      `(${(decodeNs / jsonDecodeNs).toFixed(2)}x JSON)  ` +
      `=> ${(1e9 / encodeNs / 1000).toFixed(0)}k enc/s, ${
        (1e9 / decodeNs / 1000).toFixed(0)
      }k dec/s`,
  );
}

const put: etcdserverpb.PutRequest.$Properties = {
  key: new TextEncoder().encode("key-0001"),
  value: new Uint8Array(256).fill(0x76),
};
console.log("command: deno run -A bench/kv_codec.ts");
report(
  "PutRequest 8 B/256 B",
  put,
  () => etcdserverpb.PutRequest.encode(put).finish(),
  (bytes) => etcdserverpb.PutRequest.decode(bytes),
);
for (const count of [1, 100]) {
  const response = rangeResponse(count);
  report(
    `RangeResponse ${count} kv`,
    response,
    () => etcdserverpb.RangeResponse.encode(response).finish(),
    (bytes) => etcdserverpb.RangeResponse.decode(bytes),
  );
}
