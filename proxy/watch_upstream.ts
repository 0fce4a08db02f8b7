/**
 * The proxy's watch streams to the cluster: one bidirectional Watch call per auth token
 * (clientv3 shares one stream among the watchers of one context the same way), carrying every
 * upstream watcher of the proxy's broadcasts. When the call breaks (the member died), the
 * stream moves to the next endpoint and creates each watcher again from the revision it
 * expects next, so a broadcast resumes without losing or repeating an event; the repeated
 * "created" answer is swallowed.
 *
 * Created answers arrive in the order the create requests were sent (a member handles one
 * stream's requests in order), so pending creations are a queue.
 *
 * @module
 */

import { bigintToLong, longToBigint } from "../etcdserverpb/mod.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import type { BidiCall } from "../client/mod.ts";
import type { Upstream } from "./upstream.ts";

/** Delay before reopening a broken stream, so a dead cluster is not hammered. */
const REOPEN_DELAY_MS = 250;

type WatchResponse = etcdserverpb.WatchResponse;

/** What an upstream watcher is told. */
export interface UpstreamWatcherSink {
  /** The revision to resume from after a break: the next revision the watcher expects. */
  resumeRevision(): bigint;
  /** Every response for the watcher, the first "created" one included. */
  onResponse(response: WatchResponse): void;
}

/** One watcher on the cluster. */
export class UpstreamWatcher {
  readonly key: Uint8Array;
  readonly end: Uint8Array;
  readonly sink: UpstreamWatcherSink;
  /** The id the member gave it on the current stream; undefined until created. */
  id: bigint | undefined;
  created = false;
  canceled = false;

  constructor(key: Uint8Array, end: Uint8Array, sink: UpstreamWatcherSink) {
    this.key = key;
    this.end = end;
    this.sink = sink;
  }
}

/** One shared watch stream for one token. */
export class UpstreamWatchStream {
  readonly #upstream: Upstream;
  readonly #token: string | undefined;
  readonly #watchers = new Set<UpstreamWatcher>();
  readonly #byId = new Map<bigint, UpstreamWatcher>();
  #pending: UpstreamWatcher[] = [];
  #call: (BidiCall<etcdserverpb.IWatchRequest, WatchResponse> & { endpoint: string }) | undefined;
  #closed = false;

  constructor(upstream: Upstream, token: string | undefined) {
    this.#upstream = upstream;
    this.#token = token;
  }

  /** Watchers on this stream. */
  get size(): number {
    return this.#watchers.size;
  }

  /** Starts a watcher from `startRevision` (0: from now). */
  watch(watcher: UpstreamWatcher): void {
    // A stream closed with its last watcher opens again for the next one.
    this.#closed = false;
    this.#watchers.add(watcher);
    if (this.#call === undefined) this.#open();
    else this.#create(watcher);
  }

  /** Stops a watcher. */
  cancel(watcher: UpstreamWatcher): void {
    watcher.canceled = true;
    this.#watchers.delete(watcher);
    if (watcher.id !== undefined) {
      this.#byId.delete(watcher.id);
      this.#call?.send({ cancelRequest: { watchId: bigintToLong(watcher.id) } });
    }
    if (this.#watchers.size === 0) this.close();
  }

  /** Ends the stream and forgets every watcher. */
  close(): void {
    this.#closed = true;
    this.#call?.cancel();
    this.#call = undefined;
  }

  #create(watcher: UpstreamWatcher): void {
    watcher.id = undefined;
    this.#pending.push(watcher);
    this.#call!.send({
      createRequest: {
        key: watcher.key,
        rangeEnd: watcher.end,
        startRevision: bigintToLong(watcher.sink.resumeRevision()),
        progressNotify: true,
        prevKv: true,
      },
    });
  }

  #open(): void {
    const call = this.#upstream.bidi(METHODS.Watch.Watch, { token: this.#token });
    this.#call = call;
    this.#pending = [];
    this.#byId.clear();
    for (const watcher of this.#watchers) this.#create(watcher);
    void this.#read(call);
  }

  async #read(call: BidiCall<etcdserverpb.IWatchRequest, WatchResponse> & { endpoint: string }) {
    try {
      for await (const response of call.responses) this.#dispatch(response);
    } catch {
      // The stream broke; reopened below.
    }
    if (this.#closed || this.#call !== call) return;
    this.#upstream.failed(call.endpoint);
    this.#call = undefined;
    await new Promise((resolve) => setTimeout(resolve, REOPEN_DELAY_MS));
    if (!this.#closed && this.#call === undefined && this.#watchers.size > 0) this.#open();
  }

  #dispatch(response: WatchResponse): void {
    const id = longToBigint(response.watchId ?? 0);
    if (response.created === true) {
      const watcher = this.#pending.shift();
      if (watcher === undefined) return;
      if (watcher.canceled) {
        if (response.canceled !== true) {
          this.#call?.send({ cancelRequest: { watchId: response.watchId ?? 0 } });
        }
        return;
      }
      watcher.id = id;
      if (response.canceled !== true) this.#byId.set(id, watcher);
      else this.#watchers.delete(watcher);
      const first = !watcher.created;
      watcher.created = true;
      // A re-created watcher's "created" is the stream's business, not its clients'.
      if (first || response.canceled === true) watcher.sink.onResponse(response);
      return;
    }
    const watcher = this.#byId.get(id);
    if (watcher === undefined) return;
    if (response.canceled === true) {
      this.#byId.delete(id);
      this.#watchers.delete(watcher);
    }
    watcher.sink.onResponse(response);
  }
}
