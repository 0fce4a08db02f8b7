// Goal: the error table matches etcd 3.4's rpctypes exactly, since clients match by message.
// Method: spot-check codes and strings named in the task and by clients, count the table, and
// check uniqueness and the mapping of foreign throwables.
import assert from "node:assert/strict";
import {
  allErrors,
  ErrCompacted,
  ErrFutureRev,
  ErrInvalidAuthToken,
  errorFromMessage,
  ErrRequestTooLarge,
  EtcdError,
  Status,
  toEtcdError,
} from "./errors.ts";

Deno.test("errors carry etcd's codes and exact messages", () => {
  assert.equal(ErrCompacted.code, Status.OUT_OF_RANGE);
  assert.equal(ErrCompacted.message, "etcdserver: mvcc: required revision has been compacted");
  assert.equal(ErrFutureRev.code, Status.OUT_OF_RANGE);
  assert.equal(ErrRequestTooLarge.code, Status.INVALID_ARGUMENT);
  assert.equal(ErrRequestTooLarge.message, "etcdserver: request is too large");
  assert.equal(ErrInvalidAuthToken.code, Status.UNAUTHENTICATED);
});

Deno.test("the table has all 52 of etcd 3.4's server errors, each message once", () => {
  const errors = allErrors();
  assert.equal(errors.length, 52);
  assert.equal(new Set(errors.map((error) => error.message)).size, 52);
  for (const error of errors) {
    assert.ok(error.message.startsWith("etcdserver: "), error.message);
    assert.equal(errorFromMessage(error.message), error);
  }
  assert.equal(errorFromMessage("etcdserver: no such error"), undefined);
});

Deno.test("toEtcdError() keeps EtcdErrors and wraps anything else as UNKNOWN", () => {
  assert.equal(toEtcdError(ErrCompacted), ErrCompacted);
  const wrapped = toEtcdError(new TypeError("boom"));
  assert.equal(wrapped.code, Status.UNKNOWN);
  assert.equal(wrapped.message, "boom");
  assert.equal(toEtcdError("text").message, "text");
  assert.throws(() => new EtcdError(Status.OK, "fine"), RangeError);
});
