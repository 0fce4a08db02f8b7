/**
 * The recipes etcd's election and lock services take from `clientv3/concurrency`, built on the
 * member's own request API instead of an in-process client: a session lease, the key a
 * session owns under a name prefix, and the wait until every older key under the prefix is
 * gone.
 *
 * A candidate (or a locker) puts `<prefix><lease in hex>` with its lease; the key with the
 * lowest create revision under the prefix holds the election (or the lock). A waiter watches
 * the newest older key until it is deleted, then looks again; so each deletion wakes one
 * waiter only, and a lease that expires deletes its key and hands the prize on.
 *
 * Errors: etcd's services reach the server through a client, which turns the server's gRPC
 * errors into plain errors; grpc-go then sends them as UNKNOWN with the same message
 * (`etcdserver: requested lease not found` answers code 2, HTTP 500 on the gateway). The
 * `asClientError` below does the same.
 *
 * @module
 */

import { etcdserverpb } from "../../etcdserverpb/mod.ts";
import { ErrCompacted, EtcdError, Status } from "../../rpc/mod.ts";
import {
  big,
  bytes,
  type Event,
  int64,
  num,
  type RequestContext,
  type ServerApi,
  type WatchResponse,
} from "../../server/mod.ts";
import { togRPCError } from "./grpc_error.ts";

type ResponseHeader = etcdserverpb.ResponseHeader.$Properties;

/** The TTL of the lease a session grants when the caller gave none (concurrency's default). */
export const SESSION_TTL_SECONDS = 60;
/** How long clean-up after a cancelled call (resign, unlock) may take. */
const CLEANUP_TIMEOUT_MS = 5_000;
/** Watch event types (mvccpb.Event.EventType). */
const _PUT = 0;
const _DELETE = 1;

const _encoder = new TextEncoder();

/** An error as etcd's election and lock services pass it on: UNKNOWN, the same message. */
export function asClientError(error: unknown): unknown {
  const mapped = togRPCError(error);
  if (mapped instanceof EtcdError) {
    // A cancelled or expired call keeps its code, as grpc-go gives context errors theirs.
    const kept = [Status.CANCELLED, Status.DEADLINE_EXCEEDED, Status.UNKNOWN] as number[];
    if (kept.includes(mapped.code)) return mapped;
    return new EtcdError(Status.UNKNOWN, mapped.message);
  }
  return mapped;
}

/** etcd's `GetPrefixRangeEnd`: the first key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let index = end.length - 1; index >= 0; index--) {
    if (end[index]! < 0xff) {
      end[index]! += 1;
      return end.subarray(0, index + 1);
    }
  }
  // Every byte is 0xff: no key follows; "\0" means "to the end of the keyspace".
  return new Uint8Array([0]);
}

/** `a` followed by `b`. */
export function concat(a: Uint8Array, b: Uint8Array | string): Uint8Array {
  const tail = typeof b === "string" ? _encoder.encode(b) : b;
  const out = new Uint8Array(a.length + tail.length);
  out.set(a, 0);
  out.set(tail, a.length);
  return out;
}

/** Whether two byte strings are equal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** The key a session with `lease` owns under `prefix`: clientv3's `%s%x`. */
export function sessionKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  return concat(prefix, lease.toString(16));
}

/** A context for clean-up that must run although the caller's call was cancelled. */
export function cleanupContext(context: RequestContext): RequestContext {
  return { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS), user: context.user };
}

/** The error of a call whose client went away (its deadline or cancel), else undefined. */
function _abortError(signal: AbortSignal): EtcdError | undefined {
  if (!signal.aborted) return undefined;
  const reason = signal.reason as { name?: string } | undefined;
  return reason?.name === "TimeoutError"
    ? new EtcdError(Status.DEADLINE_EXCEEDED, "context deadline exceeded")
    : new EtcdError(Status.CANCELLED, "context canceled");
}

/**
 * One caller's view of the member, as the in-process client of etcd's services: every
 * request carries the caller's context (its cancel signal and identity).
 */
export class ConcurrencyClient {
  readonly #server: ServerApi;
  readonly context: RequestContext;

  constructor(server: ServerApi, context: RequestContext) {
    this.#server = server;
    this.context = context;
  }

  /** The same member, under another context. */
  with(context: RequestContext): ConcurrencyClient {
    return new ConcurrencyClient(this.#server, context);
  }

  /** A response header at `revision` (0: the current one). */
  header(revision = 0): ResponseHeader {
    return this.#server.header(revision);
  }

  /**
   * concurrency's `NewSession(WithLease(lease))`: the caller's lease, or a new lease of
   * `SESSION_TTL_SECONDS` when it gave none. The service orphans the session at once, so the
   * lease is never kept alive here: it lives as long as its holder refreshes it.
   */
  async sessionLease(lease: bigint): Promise<bigint> {
    if (lease !== 0n) return lease;
    const granted = await this.#server.leaseGrant(
      { TTL: int64(SESSION_TTL_SECONDS), ID: int64(0) },
      this.context,
    );
    const id = big(granted.ID);
    if (id <= 0n) throw new Error(`lease grant answered ID ${id}`);
    return id;
  }

  /** A transaction through the member. */
  txn(request: etcdserverpb.TxnRequest.$Properties): Promise<etcdserverpb.TxnResponse.$Properties> {
    return this.#server.txn(request as etcdserverpb.TxnRequest, this.context);
  }

  /** A linearizable range. */
  range(
    request: etcdserverpb.RangeRequest.$Properties,
  ): Promise<etcdserverpb.RangeResponse.$Properties> {
    return this.#server.range(request as etcdserverpb.RangeRequest, this.context);
  }

  /** Deletes one key. */
  deleteKey(key: Uint8Array): Promise<etcdserverpb.DeleteRangeResponse.$Properties> {
    return this.#server.deleteRange({ key } as etcdserverpb.DeleteRangeRequest, this.context);
  }

  /**
   * The key under `prefix` with the lowest create revision (clientv3's `WithFirstCreate`),
   * or with the highest one at most `maxCreateRevision` (`WithLastCreate` +
   * `WithMaxCreateRev`).
   */
  firstOrLastCreated(
    prefix: Uint8Array,
    order: "first" | "last",
    maxCreateRevision = 0,
  ): etcdserverpb.RangeRequest.$Properties {
    const request: etcdserverpb.RangeRequest.$Properties = {
      key: prefix,
      rangeEnd: prefixEnd(prefix),
      limit: int64(1),
      sortTarget: etcdserverpb.RangeRequest.SortTarget.CREATE,
      sortOrder: order === "first"
        ? etcdserverpb.RangeRequest.SortOrder.ASCEND
        : etcdserverpb.RangeRequest.SortOrder.DESCEND,
    };
    if (maxCreateRevision !== 0) request.maxCreateRevision = int64(maxCreateRevision);
    return request;
  }

  /**
   * concurrency's `waitDeletes`: waits until no key under `prefix` has a create revision
   * of `maxCreateRevision` or less; answers the header of the range that found none.
   */
  async waitDeletes(prefix: Uint8Array, maxCreateRevision: number): Promise<ResponseHeader> {
    for (;;) {
      const response = await this.range(
        this.firstOrLastCreated(prefix, "last", maxCreateRevision),
      );
      const newest = response.kvs?.[0];
      if (newest === undefined) return response.header ?? this.header();
      await this.waitDelete(bytes(newest.key), num(response.header?.revision));
    }
  }

  /** concurrency's `waitDelete`: watches `key` from `revision` until a delete event. */
  async waitDelete(key: Uint8Array, revision: number): Promise<void> {
    for await (const response of this.watch(key, undefined, revision)) {
      if (response.events.some((event) => event.type === _DELETE)) return;
    }
    throw _abortError(this.context.signal) ?? new Error("lost watcher waiting for delete");
  }

  /**
   * The watch responses of `[key, end)` (a single key without `end`) from `startRevision`,
   * until the call is cancelled; a compacted start revision throws etcd's ErrCompacted.
   */
  async *watch(
    key: Uint8Array,
    end: Uint8Array | undefined,
    startRevision: number,
  ): AsyncGenerator<WatchResponse> {
    const signal = this.context.signal;
    if (signal.aborted) return;
    const stream = this.#server.newWatchStream(this.context);
    const onAbort = () => stream.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const options: Parameters<typeof stream.watch>[0] = { key, startRev: startRevision };
      if (end !== undefined) {
        options.end = end.length === 1 && end[0] === 0 ? new Uint8Array() : end;
      }
      stream.watch(options);
      for (;;) {
        const response = await stream.next();
        if (response === undefined) return;
        if (response.compactRevision !== 0) throw ErrCompacted;
        yield response;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      stream.close();
    }
  }
}

/** Whether the event is a put. */
export function isPut(event: Event): boolean {
  return event.type === _PUT;
}
