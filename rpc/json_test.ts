// Goal: request JSON keeps every 64-bit integer exact (the gateway must hand the lease ID
// 2495754994368113375 to the server digit for digit), in both spellings grpc-gateway accepts,
// while small numbers, floats and strings come through as JSON.parse gives them.
// Method: parse literal texts and decode them into protobufjs messages through the codecs.
import assert from "node:assert/strict";
import { checkInt64Json, parseJsonExact } from "./json.ts";
import { METHODS } from "./methods.ts";
import { numberToLong } from "../etcdserverpb/mod.ts";

Deno.test("parseJsonExact keeps integers of 16+ digits as their decimal text", () => {
  const parsed = parseJsonExact(
    '{"ID": 2495754994368113375, "n": [1, -9223372036854775808, 18446744073709551615], ' +
      '"f": 1.5, "s": "12345678901234567890", "small": 900719925474099, "e": 1234567890123456e2, ' +
      '"q": "say \\"1234567890123456789\\"", "g": 12345678901234567.5}',
  );
  assert.deepEqual(parsed, {
    ID: "2495754994368113375",
    n: [1, "-9223372036854775808", "18446744073709551615"],
    f: 1.5,
    s: "12345678901234567890",
    small: 900719925474099,
    e: 123456789012345600,
    q: 'say "1234567890123456789"',
    g: 12345678901234568,
  });
});

Deno.test("64-bit fields take numbers and decimal strings, and refuse the rest as Go does", () => {
  assert.equal(checkInt64Json(60, "int64"), "60");
  assert.equal(checkInt64Json("-9223372036854775808", "int64"), "-9223372036854775808");
  assert.equal(checkInt64Json("18446744073709551615", "uint64"), "18446744073709551615");
  const refused: [unknown, string, string][] = [
    ["abc", "int64", "invalid character 'a' looking for beginning of value"],
    ["", "int64", "unexpected end of JSON input"],
    [1.5, "int64", "json: cannot unmarshal number 1.5 into Go value of type int64"],
    [true, "uint64", "json: cannot unmarshal bool into Go value of type uint64"],
    [
      "9223372036854775808",
      "int64",
      "json: cannot unmarshal number 9223372036854775808 into Go value of type int64",
    ],
    ["-1", "uint64", "json: cannot unmarshal number -1 into Go value of type uint64"],
  ];
  for (const [value, type, message] of refused) {
    assert.throws(() => checkInt64Json(value, type), { name: "SyntaxError", message });
  }
  assert.throws(
    () => METHODS.KV.Range.request.fromJson(parseJsonExact('{"key":"Zm9v","limit":"abc"}')),
    SyntaxError,
  );
  assert.throws(
    () => METHODS.KV.Range.request.fromJson(parseJsonExact('{"revision":18446744073709551616}')),
    { message: "json: cannot unmarshal number 18446744073709551616 into Go value of type int64" },
  );
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
