/**
 * The v2 applier (etcd 3.4 `etcdserver/apply_v2.go`): applies one committed v2 request
 * (`etcdserverpb.Request`) to the v2 store. PUT is create, update, compare-and-swap or set by
 * its PrevExist/PrevIndex/PrevValue; DELETE is delete or compare-and-delete; POST makes an
 * in-order key; QGET is a read through raft; SYNC expires the TTL nodes due at the time the
 * leader put into the entry. A plain PUT of a member's attributes or of the cluster version is
 * a membership change (which the cluster writes into `/0` and the backend).
 *
 * @module
 */

import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import { longToBigint } from "../etcdserverpb/mod.ts";
import { PERMANENT, type TtlOptions, type V2Event, type V2Store } from "../v2store/mod.ts";
import type Long from "long";

/** What the v2 applier reads and writes. */
export interface ApplyV2Target {
  readonly v2store: V2Store;
  /** A member publishes its attributes (`/0/members/<hex id>/attributes`). */
  updateMemberAttributes(id: bigint, name: string, clientUrls: string[]): void;
  /** The leader sets the cluster version (`/0/version`). */
  setClusterVersion(version: string): void;
}

/** The result a v2 proposer waits for: an event, or the error (a V2Error, or unknown method). */
export interface ApplyV2Result {
  event?: V2Event;
  error?: Error;
}

/** etcd's ErrUnknownMethod. */
export class UnknownMethodError extends Error {
  constructor() {
    super("etcdserver: unknown method");
    this.name = "UnknownMethodError";
  }
}

const _MEMBER_ATTRIBUTES = /^\/0\/members\/[0-9a-f]{1,16}\/attributes$/;
const _CLUSTER_VERSION_KEY = "/0/version";

type _Request = etcdserverpb.Request.$Properties;

/** Applies one v2 request; never throws for a request-level failure. */
export function applyV2Request(target: ApplyV2Target, r: _Request): ApplyV2Result {
  try {
    const event = _apply(target, r);
    return event === undefined ? {} : { event };
  } catch (error) {
    if (error instanceof Error) return { error };
    throw error;
  }
}

function _apply(target: ApplyV2Target, r: _Request): V2Event | undefined {
  const store = target.v2store;
  const path = r.Path ?? "";
  const prevValue = r.PrevValue ?? "";
  const prevIndex = _number(r.PrevIndex);
  switch (r.Method) {
    case "POST":
      return store.create(path, {
        dir: r.Dir === true,
        value: r.Val ?? "",
        unique: true,
        ttl: ttlOptions(r),
      });
    case "PUT":
      return _put(target, r);
    case "DELETE":
      if (prevIndex > 0 || prevValue !== "") {
        return store.compareAndDelete(path, { prevValue, prevIndex });
      }
      return store.delete(path, { dir: r.Dir === true, recursive: r.Recursive === true });
    case "QGET":
      return store.get(path, r.Recursive === true, r.Sorted === true);
    case "SYNC":
      store.deleteExpiredKeys(_bigint(r.Time));
      return undefined;
    default:
      throw new UnknownMethodError();
  }
}

function _put(target: ApplyV2Target, r: _Request): V2Event | undefined {
  const store = target.v2store;
  const path = r.Path ?? "";
  const value = r.Val ?? "";
  const prevValue = r.PrevValue ?? "";
  const prevIndex = _number(r.PrevIndex);
  const ttl = ttlOptions(r);
  // The decoder puts proto2 defaults on the prototype: a field is set only if it is the
  // message's own property (Go's nullable PrevExist and Refresh).
  if (_isSet(r, "PrevExist")) {
    if (r.PrevExist) {
      if (prevIndex === 0 && prevValue === "") return store.update(path, { value, ttl });
      return store.compareAndSwap(path, { prevValue, prevIndex, value, ttl });
    }
    return store.create(path, { dir: r.Dir === true, value, unique: false, ttl });
  }
  if (prevIndex > 0 || prevValue !== "") {
    return store.compareAndSwap(path, { prevValue, prevIndex, value, ttl });
  }
  if (_MEMBER_ATTRIBUTES.test(path)) {
    const hex = path.split("/")[3]!;
    const attrs = JSON.parse(value) as { name?: string; clientURLs?: string[] };
    target.updateMemberAttributes(BigInt("0x" + hex), attrs.name ?? "", attrs.clientURLs ?? []);
    return undefined;
  }
  if (path === _CLUSTER_VERSION_KEY) {
    target.setClusterVersion(value);
    return undefined;
  }
  return store.set(path, { dir: r.Dir === true, value, ttl });
}

function _isSet(r: _Request, field: "PrevExist" | "Refresh"): boolean {
  return Object.hasOwn(r, field) && r[field] !== undefined && r[field] !== null;
}

/** The TTL options of a request (etcd's RequestV2.TTLOptions). */
export function ttlOptions(r: _Request): TtlOptions {
  const expiration = _bigint(r.Expiration);
  return {
    expireTime: expiration === 0n ? PERMANENT : expiration,
    refresh: _isSet(r, "Refresh") && r.Refresh === true,
  };
}

function _bigint(value: Long | number | null | undefined): bigint {
  if (value === undefined || value === null) return 0n;
  return typeof value === "number" ? BigInt(value) : longToBigint(value);
}

function _number(value: Long | number | null | undefined): number {
  return Number(_bigint(value));
}
