/**
 * The watch proxy (etcd's grpcproxy watch.go, watch_ranges.go, watch_broadcast(s).go,
 * watcher.go): client watchers on the same key range that can share an upstream watcher do.
 *
 * - A *broadcast* is one upstream watcher and the client watchers it serves. A client
 *   watcher joins a broadcast of its range when the broadcast has not passed the revision the
 *   watcher starts at (it would miss events) and is not still being created for a watcher that
 *   wants history; a watcher that joins a running broadcast gets a "created" answer from the
 *   proxy, as from etcd.
 * - Each client watcher filters what it is sent: events before the revision it expects
 *   (several broadcasts may cover it while coalescing), its NOPUT/NODELETE filters, prev_kv
 *   unless asked for, progress notifications unless asked for.
 * - After each response, a small broadcast (< 5 watchers) whose revision has caught up with
 *   another started broadcast of the same range moves its watchers there and stops.
 * - A broadcast whose upstream watcher is cancelled (compaction) forwards the cancellation to
 *   its watchers and ends.
 *
 * Before a watcher is created the proxy checks that the client may read the range (a
 * serializable count-only range with the client's token), as etcd's proxy does.
 *
 * @module
 */

import { bigintToLong, etcdserverpb, longToBigint, numberToLong } from "../etcdserverpb/mod.ts";
import type { mvccpb } from "../etcdserverpb/mod.ts";
import {
  type CallContext,
  EtcdError,
  METHODS,
  Status,
  type StreamSink,
  type WatchService,
} from "../rpc/mod.ts";
import { callOptions } from "./forward.ts";
import { eventsCoalescing, watchersCoalescing } from "./metrics.ts";
import { asBytes, type Namespace } from "./namespace.ts";
import type { Upstream } from "./upstream.ts";
import { UpstreamWatcher, UpstreamWatchStream } from "./watch_upstream.ts";

/** etcd's maxCoalesceReceivers: a popular broadcast is not merged into another. */
const COALESCE_RECEIVERS_MAX = 5;
/** Responses queued for one client stream before the proxy gives up on that client. */
const CLIENT_QUEUE_MAX = 1024;

type WatchResponseProps = etcdserverpb.IWatchResponse;

/** One client stream's sending side, with a bounded queue in front of the sink. */
class _ClientStream {
  readonly #sink: StreamSink<WatchResponseProps>;
  readonly #abort: (error: Error) => void;
  #queued = 0;
  #chain: Promise<void> = Promise.resolve();
  nextWatcherId = 0n;
  readonly watchers = new Map<bigint, _ClientWatcher>();

  constructor(sink: StreamSink<WatchResponseProps>, abort: (error: Error) => void) {
    this.#sink = sink;
    this.#abort = abort;
  }

  post(response: WatchResponseProps): boolean {
    if (this.#sink.closed) return false;
    if (this.#queued >= CLIENT_QUEUE_MAX) {
      this.#abort(new EtcdError(Status.CANCELLED, "watch client too slow"));
      return false;
    }
    this.#queued++;
    this.#chain = this.#chain.then(() => this.#sink.send(response)).catch(() => {}).finally(
      () => void this.#queued--,
    );
    return true;
  }
}

/** A client's watcher (etcd's grpcproxy watcher). */
class _ClientWatcher {
  readonly id: bigint;
  readonly rangeId: string;
  readonly stream: _ClientStream;
  readonly progress: boolean;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  /** The smallest revision of an event it still expects; 0 while "from now" is unknown. */
  nextRevision: bigint;
  lastHeader: etcdserverpb.IResponseHeader = {};

  constructor(
    options: {
      id: bigint;
      rangeId: string;
      stream: _ClientStream;
      request: etcdserverpb.IWatchCreateRequest;
    },
  ) {
    const request = options.request;
    this.id = options.id;
    this.rangeId = options.rangeId;
    this.stream = options.stream;
    this.progress = request.progressNotify === true;
    this.prevKv = request.prevKv === true;
    const filters = (request.filters ?? []).map(Number);
    this.noPut = filters.includes(etcdserverpb.WatchCreateRequest.FilterType.NOPUT);
    this.noDelete = filters.includes(etcdserverpb.WatchCreateRequest.FilterType.NODELETE);
    this.nextRevision = longToBigint(request.startRevision ?? 0);
  }

  /** etcd's watcher.send: filters one broadcast response for this client. */
  send(response: etcdserverpb.WatchResponse): void {
    const progressNotify = response.created !== true && response.canceled !== true &&
      (response.events ?? []).length === 0 && longToBigint(response.compactRevision ?? 0) === 0n;
    if (progressNotify && !this.progress) return;
    const headerRevision = longToBigint(response.header?.revision ?? 0);
    const events = response.events ?? [];
    if (this.nextRevision > headerRevision && events.length > 0) return;
    if (this.nextRevision === 0n) this.nextRevision = headerRevision + 1n;
    const kept: mvccpb.IEvent[] = [];
    let lastRevision = 0n;
    for (const event of events) {
      const modRevision = longToBigint(event.kv?.modRevision ?? 0);
      if (modRevision < this.nextRevision) continue;
      // Events of one txn share a revision: move nextRevision only after the whole response.
      lastRevision = modRevision;
      const isDelete = Number(event.type ?? 0) === 1;
      if ((isDelete && this.noDelete) || (!isDelete && this.noPut)) continue;
      kept.push(this.prevKv ? event : { ...event, prevKv: null });
    }
    if (lastRevision >= this.nextRevision) this.nextRevision = lastRevision + 1n;
    if (
      !progressNotify && response.created !== true && kept.length === 0 &&
      longToBigint(response.compactRevision ?? 0) === 0n && response.canceled !== true
    ) return;
    this.lastHeader = response.header ?? {};
    const out: WatchResponseProps = {
      header: response.header ?? null,
      watchId: bigintToLong(this.id),
      created: response.created === true,
      canceled: response.canceled === true,
      compactRevision: response.compactRevision ?? 0,
      events: kept,
    };
    if (response.cancelReason) out.cancelReason = response.cancelReason;
    this.stream.post(out);
  }
}

/** One upstream watcher and its client watchers (etcd's watchBroadcast). */
class _Broadcast {
  readonly receivers = new Set<_ClientWatcher>();
  nextRevision: bigint;
  responses = 0;
  upstream: UpstreamWatcher | undefined;
  stopped = false;

  constructor(nextRevision: bigint) {
    this.nextRevision = nextRevision;
  }

  /** etcd's watchBroadcast.add. */
  add(watcher: _ClientWatcher): boolean {
    if (
      this.nextRevision > watcher.nextRevision ||
      (this.nextRevision === 0n && watcher.nextRevision !== 0n)
    ) return false;
    if (this.responses === 0) {
      // The member's own "created" answer is still to come and will reach this watcher.
      this.receivers.add(watcher);
      return true;
    }
    if (watcher.nextRevision === 0n) watcher.nextRevision = this.nextRevision;
    const ok = watcher.stream.post({
      header: { revision: bigintToLong(this.nextRevision - 1n) },
      watchId: bigintToLong(watcher.id),
      created: true,
    });
    if (!ok) return false;
    this.receivers.add(watcher);
    watchersCoalescing.inc();
    return true;
  }

  remove(watcher: _ClientWatcher): void {
    if (!this.receivers.delete(watcher)) return;
    if (this.receivers.size > 0) watchersCoalescing.dec();
  }

  /** etcd's watchBroadcast.bcast. */
  broadcast(response: etcdserverpb.WatchResponse): void {
    if (this.responses > 0 || this.nextRevision === 0n) {
      this.nextRevision = longToBigint(response.header?.revision ?? 0) + 1n;
    }
    this.responses++;
    for (const receiver of this.receivers) receiver.send(response);
    if (this.receivers.size > 0) eventsCoalescing.inc(this.receivers.size - 1);
  }
}

/** The broadcasts of one key range (etcd's watchBroadcasts). */
class _RangeBroadcasts {
  readonly key: Uint8Array;
  readonly end: Uint8Array;
  readonly broadcasts = new Set<_Broadcast>();
  readonly owner = new Map<_ClientWatcher, _Broadcast>();

  constructor(key: Uint8Array, end: Uint8Array) {
    this.key = key;
    this.end = end;
  }
}

/** The shared state of the watch proxy: ranges, broadcasts, upstream streams by token. */
class _WatchProxy {
  readonly #upstream: Upstream;
  readonly #namespace: Namespace | undefined;
  readonly #ranges = new Map<string, _RangeBroadcasts>();
  readonly #streams = new Map<string, UpstreamWatchStream>();

  constructor(upstream: Upstream, namespace: Namespace | undefined) {
    this.#upstream = upstream;
    this.#namespace = namespace;
  }

  /** Upstream watchers open now (one per broadcast). */
  get upstreamWatchers(): number {
    let count = 0;
    for (const stream of this.#streams.values()) count += stream.size;
    return count;
  }

  add(watcher: _ClientWatcher, key: Uint8Array, end: Uint8Array, token: string | undefined) {
    let range = this.#ranges.get(watcher.rangeId);
    if (range === undefined) {
      range = new _RangeBroadcasts(key, end);
      this.#ranges.set(watcher.rangeId, range);
    }
    for (const broadcast of range.broadcasts) {
      if (broadcast.add(watcher)) {
        range.owner.set(watcher, broadcast);
        return;
      }
    }
    const broadcast = new _Broadcast(watcher.nextRevision);
    broadcast.receivers.add(watcher);
    range.broadcasts.add(broadcast);
    range.owner.set(watcher, broadcast);
    this.#startUpstream(range, broadcast, token);
  }

  #startUpstream(range: _RangeBroadcasts, broadcast: _Broadcast, token: string | undefined) {
    const target = this.#namespace === undefined
      ? { key: range.key, end: range.end }
      : this.#namespace.interval(range.key, range.end);
    const streamKey = token ?? "";
    let stream = this.#streams.get(streamKey);
    if (stream === undefined) {
      stream = new UpstreamWatchStream(this.#upstream, token);
      this.#streams.set(streamKey, stream);
    }
    const owningStream = stream;
    broadcast.upstream = new UpstreamWatcher(target.key, target.end, {
      resumeRevision: () => broadcast.nextRevision,
      onResponse: (response) => {
        if (broadcast.stopped) return;
        this.#namespace?.stripEvents(response.events);
        broadcast.broadcast(response);
        if (response.canceled === true) this.#end(range, broadcast);
        else this.#coalesce(range, broadcast);
      },
    });
    owningStream.watch(broadcast.upstream);
    (broadcast as _Broadcast & { stream?: UpstreamWatchStream }).stream = owningStream;
  }

  #stopUpstream(broadcast: _Broadcast): void {
    broadcast.stopped = true;
    const stream = (broadcast as _Broadcast & { stream?: UpstreamWatchStream }).stream;
    if (stream !== undefined && broadcast.upstream !== undefined) {
      stream.cancel(broadcast.upstream);
      if (stream.size === 0) {
        for (const [key, value] of this.#streams) if (value === stream) this.#streams.delete(key);
      }
    }
  }

  /** The upstream watcher was cancelled: its client watchers are over too. */
  #end(range: _RangeBroadcasts, broadcast: _Broadcast): void {
    for (const watcher of broadcast.receivers) {
      range.owner.delete(watcher);
      watcher.stream.watchers.delete(watcher.id);
    }
    if (broadcast.receivers.size > 1) watchersCoalescing.dec(broadcast.receivers.size - 1);
    broadcast.receivers.clear();
    range.broadcasts.delete(broadcast);
    broadcast.stopped = true;
    if (range.broadcasts.size === 0) this.#ranges.delete(this.#rangeIdOf(range));
  }

  #rangeIdOf(range: _RangeBroadcasts): string {
    for (const [id, value] of this.#ranges) if (value === range) return id;
    return "";
  }

  /** etcd's watchBroadcasts.coalesce. */
  #coalesce(range: _RangeBroadcasts, broadcast: _Broadcast): void {
    if (broadcast.receivers.size >= COALESCE_RECEIVERS_MAX) return;
    for (const other of range.broadcasts) {
      if (other === broadcast) continue;
      if (broadcast.nextRevision >= other.nextRevision && other.responses > 0) {
        for (const watcher of broadcast.receivers) {
          other.receivers.add(watcher);
          range.owner.set(watcher, other);
          watchersCoalescing.inc();
        }
        if (broadcast.receivers.size > 0) watchersCoalescing.dec();
        broadcast.receivers.clear();
        range.broadcasts.delete(broadcast);
        this.#stopUpstream(broadcast);
        return;
      }
    }
  }

  remove(watcher: _ClientWatcher): void {
    const range = this.#ranges.get(watcher.rangeId);
    const broadcast = range?.owner.get(watcher);
    if (range === undefined || broadcast === undefined) return;
    range.owner.delete(watcher);
    broadcast.remove(watcher);
    if (broadcast.receivers.size === 0) {
      range.broadcasts.delete(broadcast);
      this.#stopUpstream(broadcast);
      if (range.broadcasts.size === 0) this.#ranges.delete(watcher.rangeId);
    }
  }
}

function _hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** etcd's watchRange.valid: an end after the key, no end, or `\0`. */
function _validRange(key: Uint8Array, end: Uint8Array): boolean {
  if (end.length === 0 || (end.length === 1 && end[0] === 0)) return true;
  const n = Math.min(key.length, end.length);
  for (let i = 0; i < n; i++) if (end[i] !== key[i]) return end[i]! > key[i]!;
  return end.length > key.length;
}

/** Builds the Watch handler and a probe of how many upstream watchers are open. */
export function watchProxy(
  upstream: Upstream,
  namespace: Namespace | undefined,
): { service: WatchService; upstreamWatchers: () => number } {
  const proxy = new _WatchProxy(upstream, namespace);
  const checkPermission = async (key: Uint8Array, end: Uint8Array, context: CallContext) => {
    const whole = key.length === 0;
    const request = {
      serializable: true,
      key: whole ? new Uint8Array([0]) : key,
      rangeEnd: whole ? new Uint8Array([0]) : end,
      countOnly: true,
      limit: numberToLong(1),
    };
    const forwarded = namespace === undefined ? request : namespace.range(request);
    await upstream.unary(METHODS.KV.Range, forwarded, callOptions(context));
  };
  const watch = async (
    input: AsyncIterable<etcdserverpb.WatchRequest>,
    sink: StreamSink<WatchResponseProps>,
    context: CallContext,
  ): Promise<void> => {
    let failure: Error | undefined;
    const aborted = new AbortController();
    const stream = new _ClientStream(sink, (error) => {
      failure = error;
      aborted.abort();
    });
    try {
      for await (const request of input) {
        if (aborted.signal.aborted) break;
        if (request.createRequest) {
          const create = request.createRequest;
          const key = asBytes(create.key);
          const end = asBytes(create.rangeEnd);
          try {
            await checkPermission(key, end, context);
          } catch (error) {
            stream.post({
              header: {},
              watchId: numberToLong(-1),
              created: true,
              canceled: true,
              cancelReason: (error as Error).message,
            });
            continue;
          }
          if (!_validRange(key, end)) {
            stream.post({ watchId: numberToLong(-1), created: true, canceled: true });
            continue;
          }
          const watcher = new _ClientWatcher({
            id: stream.nextWatcherId++,
            rangeId: `${_hex(key)}/${_hex(end)}`,
            stream,
            request: create,
          });
          stream.watchers.set(watcher.id, watcher);
          proxy.add(watcher, key, end, context.token);
        } else if (request.cancelRequest) {
          const id = longToBigint(request.cancelRequest.watchId ?? 0);
          const watcher = stream.watchers.get(id);
          if (watcher === undefined) continue;
          proxy.remove(watcher);
          stream.watchers.delete(id);
          stream.post({ header: watcher.lastHeader, watchId: bigintToLong(id), canceled: true });
        }
        // Progress requests are not answered, as etcd 3.4's proxy does not answer them.
      }
    } finally {
      for (const watcher of stream.watchers.values()) proxy.remove(watcher);
      stream.watchers.clear();
    }
    if (failure !== undefined) throw failure;
  };
  return { service: { watch }, upstreamWatchers: () => proxy.upstreamWatchers };
}
