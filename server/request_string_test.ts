// Goal: the slow-apply warning names the request as etcd's InternalRaftStringer does, with a
// put's value reduced to its size. Method: requests built with the protocol types.
import { equal } from "node:assert/strict";
import { etcdserverpb, numberToLong, numberToULong } from "../etcdserverpb/mod.ts";
import { describeRequest } from "./request_string.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("describeRequest: a put shows its key and value size, never the value", () => {
  const req = etcdserverpb.InternalRaftRequest.decode(
    etcdserverpb.InternalRaftRequest.encode({
      header: { ID: numberToULong(7) },
      put: { key: enc("foo"), value: enc("secret") },
    }).finish(),
  );
  equal(describeRequest(req), 'header:<ID:7 > put:<key:"foo" value_size:6 >');
});

Deno.test("describeRequest: other requests in protobuf text form", () => {
  const req = etcdserverpb.InternalRaftRequest.decode(
    etcdserverpb.InternalRaftRequest.encode({
      header: { ID: numberToULong(9) },
      leaseGrant: { TTL: numberToLong(60), ID: numberToLong(5) },
    }).finish(),
  );
  equal(describeRequest(req), "header:<ID:9 > lease_grant:<TTL:60 ID:5 >");
});
