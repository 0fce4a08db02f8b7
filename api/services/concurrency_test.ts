// Goal: the key scheme and errors of the election and lock recipes match clientv3/concurrency:
// prefix range ends as GetPrefixRangeEnd computes them, session keys as "%s%x" prints a lease,
// and server errors passed on as UNKNOWN with etcd's message (context errors keep their code).
// Method: table checks of the pure helpers.
import assert from "node:assert/strict";
import { asClientError, prefixEnd, sessionKey } from "./concurrency.ts";
import { ErrLeaseNotFound, EtcdError, Status } from "../../rpc/mod.ts";
import { ServerError, ServerErrorCode } from "../../server/mod.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("prefixEnd() increments the last byte below 0xff, as GetPrefixRangeEnd", () => {
  assert.deepEqual(prefixEnd(new TextEncoder().encode("lock/")), new TextEncoder().encode("lock0"));
  assert.deepEqual(prefixEnd(new Uint8Array([0x61, 0xff, 0xff])), new Uint8Array([0x62]));
  assert.deepEqual(prefixEnd(new Uint8Array([0xff, 0xff])), new Uint8Array([0]));
});

Deno.test("sessionKey() is the prefix and the lease in lower-case hex", () => {
  const key = sessionKey(new TextEncoder().encode("el/"), 2495754994368113375n);
  assert.equal(text(key), "el/22a2b3f1bdb7eadf");
  assert.equal(text(sessionKey(new TextEncoder().encode("l/"), 10n)), "l/a");
});

Deno.test("asClientError() passes server errors on as UNKNOWN with etcd's message", () => {
  const fromServer = asClientError(
    new ServerError(ServerErrorCode.LeaseNotFound, "lease not found"),
  );
  assert.ok(fromServer instanceof EtcdError);
  assert.equal(fromServer.code, Status.UNKNOWN);
  assert.equal(fromServer.message, ErrLeaseNotFound.message);
  const cancelled = new EtcdError(Status.CANCELLED, "context canceled");
  assert.equal(asClientError(cancelled), cancelled);
  const plain = new Error("lost watcher waiting for delete");
  assert.equal(asClientError(plain), plain);
});
