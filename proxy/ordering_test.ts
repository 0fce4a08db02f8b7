// Goal: `--experimental-serializable-ordering` never lets a read go back in time: a response
// below the highest revision seen moves to the next endpoint and asks again, and after every
// endpoint answered too low the read fails with etcd's ErrNoGreaterRev.
import { rejects, strictEqual } from "node:assert/strict";
import { etcdserverpb, numberToLong } from "../etcdserverpb/mod.ts";
import type { CallContext, KVService } from "../rpc/mod.ts";
import type { Logger } from "../server/mod.ts";
import { ERR_NO_GREATER_REV, orderedKv } from "./ordering.ts";
import type { Upstream } from "./upstream.ts";

function fakeUpstream(startRevision: number) {
  const endpoints = ["a:1", "b:1", "c:1"];
  let current = 0;
  const moved: string[] = [];
  const upstream = {
    endpoints,
    get currentEndpoint() {
      return endpoints[current]!;
    },
    failed(endpoint: string) {
      moved.push(endpoint);
      if (endpoints[current] === endpoint) current = (current + 1) % endpoints.length;
    },
    unary: () => Promise.resolve({ header: { revision: numberToLong(startRevision) } }),
  };
  return { upstream: upstream as unknown as Upstream, moved };
}

function kvAnswering(revisions: number[]): KVService {
  const answer = () =>
    Promise.resolve({ header: { revision: numberToLong(revisions.shift() ?? 0) } });
  return { range: answer, txn: answer } as unknown as KVService;
}

const log = { info() {}, warn() {} } as unknown as Logger;
const context = {} as CallContext;

Deno.test("orderedKv() retries a lagging answer on the next endpoint", async () => {
  const { upstream, moved } = fakeUpstream(10);
  const kv = await orderedKv(kvAnswering([9, 11, 12]), upstream, log);
  const first = await kv.range(etcdserverpb.RangeRequest.create(), context);
  strictEqual(Number(first.header!.revision), 11);
  strictEqual(moved.length, 1);
  strictEqual(
    Number((await kv.txn(etcdserverpb.TxnRequest.create(), context)).header!.revision),
    12,
  );
});

Deno.test("orderedKv() fails with ErrNoGreaterRev once every endpoint lags", async () => {
  const { upstream } = fakeUpstream(10);
  const kv = await orderedKv(kvAnswering([5, 5, 5, 5, 5]), upstream, log);
  await rejects(
    kv.range(etcdserverpb.RangeRequest.create(), context),
    new Error(ERR_NO_GREATER_REV),
  );
});
