// Goal: `--namespace` maps keys and intervals as etcd's clientv3/namespace does (a `\0` end is
// the end of the prefix's keyspace, an empty end stays a single key) and strips every key of a
// response, nested txns included.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { Namespace, prefixEnd } from "./namespace.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array | null | undefined) => new TextDecoder().decode(bytes ?? undefined);

Deno.test("prefixEnd() increments the last byte that can be, and wraps 0xff.. to 0x00", () => {
  deepStrictEqual(prefixEnd(enc("ab")), enc("ac"));
  deepStrictEqual(prefixEnd(new Uint8Array([0x61, 0xff])), new Uint8Array([0x62]));
  deepStrictEqual(prefixEnd(new Uint8Array([0xff, 0xff])), new Uint8Array([0]));
});

Deno.test("Namespace.interval() prefixes keys and range ends", () => {
  const ns = new Namespace(enc("ns/"));
  const point = ns.interval(enc("k"), undefined);
  strictEqual(dec(point.key), "ns/k");
  strictEqual(point.end.length, 0);
  strictEqual(dec(ns.interval(enc("a"), enc("c")).end), "ns/c");
  const fromKey = ns.interval(enc(""), new Uint8Array([0]));
  strictEqual(dec(fromKey.key), "ns/");
  strictEqual(dec(fromKey.end), "ns0");
});

Deno.test("Namespace strips responses and filters a lease's keys", () => {
  const ns = new Namespace(enc("ns/"));
  const txn = ns.txn({
    compare: [{ key: enc("a") }],
    success: [{ requestTxn: { success: [{ requestPut: { key: enc("b") } }] } }],
  });
  strictEqual(dec(txn.compare![0]!.key), "ns/a");
  strictEqual(dec(txn.success![0]!.requestTxn!.success![0]!.requestPut!.key), "ns/b");
  const response = {
    responses: [
      { responseRange: { kvs: [{ key: enc("ns/x") }] } },
      {
        responseTxn: { responses: [{ responseDeleteRange: { prevKvs: [{ key: enc("ns/y") }] } }] },
      },
    ],
  };
  ns.stripTxn(response);
  strictEqual(dec(response.responses[0]!.responseRange!.kvs[0]!.key), "x");
  strictEqual(
    dec(response.responses[1]!.responseTxn!.responses[0]!.responseDeleteRange!.prevKvs[0]!.key),
    "y",
  );
  deepStrictEqual(ns.stripLeaseKeys([enc("ns/k"), enc("other"), enc("ns")]).map(dec), ["k"]);
});
