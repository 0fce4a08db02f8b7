// Goal: the slow-apply warning names the request as etcd's InternalRaftStringer does, with a
// put's value reduced to its size. Method: requests built with the protocol types.
import { equal } from "node:assert/strict";
import { etcdserverpb, numberToLong, numberToULong } from "../etcdserverpb/mod.ts";
import { describeMessage, describeRequest } from "./request_string.ts";

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

Deno.test("describeRequest and describeMessage print bytes as text and skip defaults", () => {
  const req = etcdserverpb.InternalRaftRequest.decode(
    etcdserverpb.InternalRaftRequest.encode({
      header: { ID: numberToULong(3) },
      deleteRange: { key: enc("a"), rangeEnd: enc("b") },
    }).finish(),
  );
  equal(describeRequest(req), 'header:<ID:3 > delete_range:<key:"a" range_end:"b" >');
  equal(
    describeMessage({ key: enc("k"), rangeEnd: new Uint8Array(0), limit: 2, serializable: false }),
    'key:"k" limit:2',
  );
});

Deno.test("describeRequest: a put inside a txn shows its value's size only", () => {
  const req = etcdserverpb.InternalRaftRequest.decode(
    etcdserverpb.InternalRaftRequest.encode({
      header: { ID: numberToULong(4) },
      txn: { success: [{ requestPut: { key: enc("k"), value: enc("secret") } }] },
    }).finish(),
  );
  equal(
    describeRequest(req),
    'header:<ID:4 > txn:<success:<request_put:<key:"k" value_size:6 > > >',
  );
});
