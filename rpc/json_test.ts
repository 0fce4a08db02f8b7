// Goal: request JSON keeps every 64-bit integer exact (the gateway must hand the lease ID
// 2495754994368113375 to the server digit for digit), in both spellings grpc-gateway accepts,
// while small numbers, floats and strings come through as JSON.parse gives them.
// Method: parse literal texts and decode them into protobufjs messages through the codecs.
import assert from "node:assert/strict";
import { parseJsonExact } from "./json.ts";
import { METHODS } from "./methods.ts";
import { numberToLong } from "../etcdserverpb/mod.ts";

Deno.test("parseJsonExact keeps integers past 2^53 as their decimal text", () => {
  const parsed = parseJsonExact(
    '{"ID": 2495754994368113375, "n": [1, -9223372036854775808, 18446744073709551615], ' +
      '"f": 1.5, "s": "12345678901234567890", "small": 9007199254740991}',
  );
  assert.deepEqual(parsed, {
    ID: "2495754994368113375",
    n: [1, "-9223372036854775808", "18446744073709551615"],
    f: 1.5,
    s: "12345678901234567890",
    small: 9007199254740991,
  });
});

Deno.test("parseJsonExact refuses integers no 64-bit field can hold", () => {
  assert.throws(() => parseJsonExact('{"ID": 18446744073709551616}'), SyntaxError);
  assert.throws(() => parseJsonExact('{"ID": -9223372036854775809}'), SyntaxError);
  assert.throws(() => parseJsonExact('{"ID": 1234567890123456'), SyntaxError);
});

Deno.test("a lease ID as number or string reaches the message exactly", () => {
  for (const text of ['{"ID": 2495754994368113375}', '{"ID": "2495754994368113375"}']) {
    const request = METHODS.Lease.LeaseRevoke.request.fromJson(parseJsonExact(text));
    assert.equal(request.ID.toString(), "2495754994368113375");
  }
  const put = METHODS.KV.Put.request.fromJson(
    parseJsonExact('{"key": "Zm9v", "lease": 7587869474125496411}'),
  );
  assert.equal(put.lease.toString(), "7587869474125496411");
  const json = METHODS.Lease.LeaseGrant.response.toJson({ ID: put.lease, TTL: numberToLong(60) });
  assert.deepEqual(json, { ID: "7587869474125496411", TTL: "60" });
});
