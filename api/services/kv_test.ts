import { doesNotThrow, throws } from "node:assert/strict";
import {
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrValueProvided,
} from "../../rpc/mod.ts";
import { bigintToLong } from "../../etcdserverpb/mod.ts";
import { checkIntervals, checkPutRequest, checkTxnRequest } from "./kv.ts";

const k = (s: string) => new TextEncoder().encode(s);
const put = (key: string) => ({ requestPut: { key: k(key), value: k("v") } });
const del = (key: string, end?: string) => ({
  requestDeleteRange: end === undefined ? { key: k(key) } : { key: k(key), rangeEnd: k(end) },
});

Deno.test("checkPutRequest() refuses an empty key and values/leases given with ignore_*", () => {
  throws(() => checkPutRequest({ value: k("v") }), (e) => e === ErrEmptyKey);
  throws(
    () => checkPutRequest({ key: k("a"), value: k("v"), ignoreValue: true }),
    (e) => e === ErrValueProvided,
  );
  throws(
    () => checkPutRequest({ key: k("a"), lease: bigintToLong(5n), ignoreLease: true }),
    (e) => e === ErrLeaseProvided,
  );
  doesNotThrow(() => checkPutRequest({ key: k("a"), ignoreValue: true }));
});

Deno.test("checkTxnRequest() counts the largest of compares, success and failure", () => {
  const ops = (n: number) => Array.from({ length: n }, (_, i) => put(`k${i}`));
  doesNotThrow(() => checkTxnRequest({ success: ops(128), failure: ops(128) }, 128));
  throws(() => checkTxnRequest({ success: ops(129) }, 128), (e) => e === ErrTooManyOps);
  throws(() => checkTxnRequest({ compare: [{ key: k("") }] }, 128), (e) => e === ErrEmptyKey);
  throws(() => checkTxnRequest({ success: [{}] }, 128), (e) => e === ErrKeyNotFound);
});

Deno.test("checkIntervals() refuses a key put twice or put and deleted in one branch", () => {
  throws(() => checkIntervals([put("a"), put("a")]), (e) => e === ErrDuplicateKey);
  throws(() => checkIntervals([put("b"), del("a", "c")]), (e) => e === ErrDuplicateKey);
  throws(() => checkIntervals([put("a"), del("a")]), (e) => e === ErrDuplicateKey);
  doesNotThrow(() => checkIntervals([put("c"), del("a", "c")]), "range ends are exclusive");
  doesNotThrow(() => checkIntervals([del("a"), del("a")]), "deleting twice is fine");
  // A key put in both branches of one nested txn is fine; next to a put outside it is not.
  const nested = { requestTxn: { success: [put("x")], failure: [put("x")] } };
  doesNotThrow(() => checkIntervals([nested]));
  throws(() => checkIntervals([nested, put("x")]), (e) => e === ErrDuplicateKey);
  const nestedDel = { requestTxn: { success: [del("m", "p")] } };
  throws(() => checkIntervals([nestedDel, put("n")]), (e) => e === ErrDuplicateKey);
});
