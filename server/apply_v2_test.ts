// The v2 applier on requests as they come out of a raft entry (encoded, then decoded by
// protobufjs): the PUT variants chosen by the Prev* fields, SYNC expiry by the entry's time,
// QGET, and the membership paths. Regression: a decoded Request carries proto2 defaults on
// its prototype, so an absent PrevExist must not read as `false` (a create).

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { bigintToLong } from "../etcdserverpb/mod.ts";
import { V2Error, V2Store } from "../v2store/mod.ts";
import { applyV2Request, type ApplyV2Target, UnknownMethodError } from "./apply_v2.ts";

function roundTrip(r: etcdserverpb.Request.$Properties): etcdserverpb.Request {
  return etcdserverpb.Request.decode(etcdserverpb.Request.encode(r).finish());
}

function target(): ApplyV2Target & { calls: string[] } {
  const calls: string[] = [];
  return {
    v2store: new V2Store({ now: () => 1_900_000_000_000_000_000n }),
    calls,
    updateMemberAttributes: (id, name, urls) =>
      calls.push(`attrs ${id.toString(16)} ${name} ${urls}`),
    setClusterVersion: (v) => calls.push(`version ${v}`),
  };
}

Deno.test("PUT without PrevExist is a set, with PrevExist false a create, true an update", () => {
  const t = target();
  const set = applyV2Request(t, roundTrip({ Method: "PUT", Path: "/1/k", Val: "a" }));
  equal(set.event?.action, "set");
  const again = applyV2Request(t, roundTrip({ Method: "PUT", Path: "/1/k", Val: "b" }));
  equal(again.event?.action, "set");
  const create = applyV2Request(
    t,
    roundTrip({ Method: "PUT", Path: "/1/k", Val: "c", PrevExist: false }),
  );
  ok(create.error instanceof V2Error && create.error.errorCode === 105);
  const update = applyV2Request(
    t,
    roundTrip({ Method: "PUT", Path: "/1/k", Val: "d", PrevExist: true }),
  );
  equal(update.event?.action, "update");
  const cas = applyV2Request(
    t,
    roundTrip({ Method: "PUT", Path: "/1/k", Val: "e", PrevValue: "d", PrevExist: true }),
  );
  equal(cas.event?.action, "compareAndSwap");
});

Deno.test("DELETE with a PrevValue is a compare-and-delete; POST makes in-order keys", () => {
  const t = target();
  applyV2Request(t, roundTrip({ Method: "PUT", Path: "/1/k", Val: "a" }));
  const cad = applyV2Request(t, roundTrip({ Method: "DELETE", Path: "/1/k", PrevValue: "x" }));
  ok(cad.error instanceof V2Error && cad.error.errorCode === 101);
  equal(applyV2Request(t, roundTrip({ Method: "DELETE", Path: "/1/k" })).event?.action, "delete");
  const post = applyV2Request(t, roundTrip({ Method: "POST", Path: "/1/q", Val: "job" }));
  equal(post.event?.node.key, "/1/q/00000000000000000003");
});

Deno.test("SYNC expires what is due at the entry's time, not the local clock", () => {
  const t = target();
  const expire = 1_900_000_005_000_000_000n;
  applyV2Request(
    t,
    roundTrip({ Method: "PUT", Path: "/1/t", Val: "v", Expiration: bigintToLong(expire) }),
  );
  applyV2Request(t, roundTrip({ Method: "SYNC", Time: bigintToLong(expire - 1n) }));
  equal(t.v2store.has("/1/t"), true);
  applyV2Request(t, roundTrip({ Method: "SYNC", Time: bigintToLong(expire) }));
  equal(t.v2store.has("/1/t"), false);
  equal(applyV2Request(t, roundTrip({ Method: "QGET", Path: "/1" })).event?.action, "get");
  ok(applyV2Request(t, roundTrip({ Method: "BOGUS" })).error instanceof UnknownMethodError);
});

Deno.test("a plain PUT of member attributes or the version is a membership change", () => {
  const t = target();
  const attrs = `{"name":"n1","clientURLs":["http://h:2379"]}`;
  deepStrictEqual(
    applyV2Request(t, roundTrip({ Method: "PUT", Path: "/0/members/abc/attributes", Val: attrs })),
    {},
  );
  applyV2Request(t, roundTrip({ Method: "PUT", Path: "/0/version", Val: "3.4.0" }));
  deepStrictEqual(t.calls, ["attrs abc n1 http://h:2379", "version 3.4.0"]);
});
