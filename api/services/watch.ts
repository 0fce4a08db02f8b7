/**
 * The Watch service (etcd's `etcdserver/api/v3rpc/watch.go`): one bidirectional stream
 * carries many watchers. Create, cancel and progress requests come in; created and canceled
 * notices, events (with `prev_kv`, fragmented when asked and too large), progress
 * notifications and compaction cancellations go out.
 *
 * The store queues responses per stream in a bounded queue and never waits for a slow
 * client: a full queue makes its watchers victims that catch up later (mvcc's business).
 * This handler forwards one response at a time and waits for the transport to take it.
 *
 * @module
 */

import { etcdserverpb, type mvccpb } from "../../etcdserverpb/mod.ts";
import type { WatchService } from "../../rpc/mod.ts";
import {
  ErrAuthOldRevision,
  ErrInvalidAuthToken,
  ErrPermissionDenied,
  ErrUserEmpty,
  type EtcdError,
  Status,
} from "../../rpc/mod.ts";
import { EncodedMessage, type StreamSink } from "../../rpc/mod.ts";
import {
  bytes,
  type Event,
  FilterType,
  int64,
  kvToPb,
  num,
  type RequestContext,
  type ServerApi,
  type ServerError,
  type WatchResponse,
  type WatchStream,
} from "../../server/mod.ts";
import { requestContext } from "./request_context.ts";
import { eventsFields, headerField, WatchResponseWriter } from "./_watch_encode.ts";
import type { WatchResponse as PbWatchResponse } from "../../etcdserverpb/mod.ts";

const _NO_WATCH_ID = -1;
/**
 * Responses the pump hands to the transport before it waits for the transport to take them:
 * the bound on what one stream queues beyond the flow-control windows.
 */
const _PUMP_BATCH_MAX = 256;

/** grpc-go's names of the codes a watch can be refused with. */
const _GO_CODE_NAMES: Readonly<Record<number, string>> = {
  [Status.INVALID_ARGUMENT]: "InvalidArgument",
  [Status.PERMISSION_DENIED]: "PermissionDenied",
  [Status.UNAUTHENTICATED]: "Unauthenticated",
};

/**
 * The cancel reason of a watch refused by auth, as etcd's recvLoop writes it: the gRPC error's
 * `Error()` string; every error but the three named is reported as permission denied.
 */
function _authCancelReason(error: ServerError): string {
  let mapped: EtcdError = ErrPermissionDenied;
  if (error.code === "InvalidAuthToken") mapped = ErrInvalidAuthToken;
  else if (error.code === "AuthOldRevision") mapped = ErrAuthOldRevision;
  else if (error.code === "UserEmpty") mapped = ErrUserEmpty;
  return `rpc error: code = ${_GO_CODE_NAMES[mapped.code]} desc = ${mapped.message}`;
}

function _eventToPb(ev: Event): mvccpb.Event.$Properties {
  const out: mvccpb.Event.$Properties = { kv: kvToPb(ev.kv) };
  if (ev.type !== 0) out.type = ev.type;
  if (ev.prevKv !== undefined) out.prevKv = kvToPb(ev.prevKv);
  return out;
}

/** Per-watcher options remembered by the stream (etcd's progress/prevKV/fragment maps). */
interface _WatcherState {
  progressNotify: boolean;
  fragment: boolean;
  /** Whether an event went out since the last progress tick. */
  sentSinceTick: boolean;
}

/** The state of one gRPC watch stream. */
class _ServerWatchStream {
  readonly #server: ServerApi;
  readonly #sink: StreamSink<PbWatchResponse>;
  readonly #stream: WatchStream;
  readonly #context: RequestContext;
  /** Requests are handled one after another; a create may wait for its permission check. */
  #handled: Promise<void> = Promise.resolve();
  readonly #watchers = new Map<number, _WatcherState>();
  /** Events that arrived before their watcher's "created" went out. */
  readonly #pending = new Map<number, WatchResponse[]>();
  #progressTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /**
   * The transport's promise for the last message handed over. Messages are handed over
   * synchronously, in call order (the transport keeps that order); the pump waits on this one
   * after each batch, so a slow client holds the pump back, not the store.
   */
  #lastSend: Promise<void> = Promise.resolve();
  /** The encoded header field of the last revision seen in the current pump batch. */
  #headerRevision = -1;
  #headerField: Uint8Array = new Uint8Array(0);
  /** The encoded events of the last events list forwarded (shared by many watchers). */
  #lastEvents: readonly Event[] | undefined;
  #lastEventsFields: Uint8Array = new Uint8Array(0);
  readonly #writer = new WatchResponseWriter();

  constructor(server: ServerApi, sink: StreamSink<PbWatchResponse>, context: RequestContext) {
    this.#server = server;
    this.#sink = sink;
    this.#context = context;
    this.#stream = server.newWatchStream(context);
    const interval = server.watchProgressNotifyIntervalMs;
    if (interval > 0) this.#progressTimer = setInterval(() => this.#progressTick(), interval);
  }

  #header(revision: number): etcdserverpb.ResponseHeader.$Properties {
    return this.#server.header(revision);
  }

  /** Hands a message to the transport now; a failed send ends the stream. */
  #send(message: PbWatchResponse | EncodedMessage): void {
    if (this.#closed) return;
    let sent: Promise<void>;
    try {
      sent = this.#sink.send(message);
    } catch {
      this.#closed = true;
      return;
    }
    this.#lastSend = sent.catch(() => {
      this.#closed = true;
    });
  }

  /** Handles one request from the client, after those before it. */
  handle(request: etcdserverpb.WatchRequest): void {
    this.#handled = this.#handled.then(() => this.#handle(request)).catch(() => {});
  }

  async #handle(request: etcdserverpb.WatchRequest): Promise<void> {
    if (this.#closed) return;
    if (request.createRequest) await this.#create(request.createRequest);
    else if (request.cancelRequest) this.#cancel(num(request.cancelRequest.watchId));
    else if (request.progressRequest) {
      // Not tied to a watcher: the header revision tells the client how far it is.
      this.#send({ header: this.#header(this.#stream.rev()), watchId: int64(_NO_WATCH_ID) });
    }
  }

  async #create(c: etcdserverpb.WatchCreateRequest.$Properties): Promise<void> {
    let key = bytes(c.key);
    if (key.length === 0) key = new Uint8Array([0]);
    let end: Uint8Array | undefined = bytes(c.rangeEnd);
    if (end.length === 0) end = undefined;
    else if (end.length === 1 && end[0] === 0) end = new Uint8Array(0);
    // etcd checks the request as rewritten above: a "from key" watch ("\0" end, now empty)
    // is checked as the single key.
    const denied = await this.#server.watchPermitted(key, end ?? new Uint8Array(0), this.#context);
    if (denied !== undefined) {
      this.#send({
        header: this.#header(this.#stream.rev()),
        watchId: int64(_NO_WATCH_ID),
        created: true,
        canceled: true,
        cancelReason: _authCancelReason(denied),
      });
      return;
    }
    if (this.#closed) return;
    const filters: FilterType[] = [];
    for (const f of c.filters ?? []) {
      if (f === etcdserverpb.WatchCreateRequest.FilterType.NOPUT) filters.push(FilterType.NOPUT);
      if (f === etcdserverpb.WatchCreateRequest.FilterType.NODELETE) {
        filters.push(FilterType.NODELETE);
      }
    }
    const requestedId = num(c.watchId);
    let id = _NO_WATCH_ID;
    let reason: string | undefined;
    try {
      const options: Parameters<WatchStream["watch"]>[0] = {
        key,
        startRev: num(c.startRevision),
        filters,
        prevKv: c.prevKv === true,
      };
      if (end !== undefined) options.end = end;
      if (requestedId !== 0) options.id = requestedId;
      id = this.#stream.watch(options);
    } catch (error) {
      reason = (error as Error).message;
    }
    const created: PbWatchResponse = {
      header: this.#header(this.#stream.rev()),
      watchId: int64(id),
      created: true,
    };
    if (reason !== undefined) {
      created.canceled = true;
      created.cancelReason = reason;
    }
    this.#send(created);
    if (reason !== undefined) return;
    this.#watchers.set(id, {
      progressNotify: c.progressNotify === true,
      fragment: c.fragment === true,
      sentSinceTick: false,
    });
    const early = this.#pending.get(id);
    this.#pending.delete(id);
    this.#headerRevision = -1; // outside a pump batch: the term may have changed
    for (const response of early ?? []) this.#forward(response);
  }

  #cancel(id: number): void {
    try {
      this.#stream.cancel(id);
    } catch {
      return; // etcd sends nothing for an unknown ID
    }
    this.#watchers.delete(id);
    this.#pending.delete(id);
    this.#send({
      header: this.#header(this.#stream.rev()),
      watchId: int64(id),
      canceled: true,
    });
  }

  #progressTick(): void {
    for (const [id, state] of this.#watchers) {
      if (state.progressNotify && !state.sentSinceTick) this.#stream.requestProgress(id);
      state.sentSinceTick = false;
    }
  }

  /**
   * Forwards the store's responses until the stream closes: everything waiting is handed to the
   * transport in one go (at most {@link _PUMP_BATCH_MAX}), then the pump waits until the
   * transport has taken it.
   */
  async pump(): Promise<void> {
    while (!this.#closed) {
      let response = this.#stream.poll();
      if (response === undefined) {
        response = await this.#stream.next();
        if (response === undefined) return;
      }
      // The term may change between batches, never inside one (one turn of the event loop).
      this.#headerRevision = -1;
      this.#lastEvents = undefined;
      for (let count = 1; response !== undefined && !this.#closed; count++) {
        this.#dispatch(response);
        if (count >= _PUMP_BATCH_MAX) break;
        response = this.#stream.poll();
      }
      await this.#lastSend;
    }
  }

  #dispatch(response: WatchResponse): void {
    if (this.#watchers.has(response.watchId)) return this.#forward(response);
    // Its "created" has not gone out yet: the response waits for it.
    const list = this.#pending.get(response.watchId) ?? [];
    list.push(response);
    this.#pending.set(response.watchId, list);
  }

  #forward(response: WatchResponse): void {
    // A client resumes a watch from the header revision: it must cover every event sent.
    for (const event of response.events) {
      // A plain check: node:assert's ok() cost ~2% of the member's CPU on a 1000-watcher stream.
      if (event.kv.modRevision > response.revision) {
        throw new Error("watch: event past the header revision");
      }
    }
    const state = this.#watchers.get(response.watchId);
    if (state !== undefined && response.events.length > 0) state.sentSinceTick = true;
    if (response.compactRevision === 0 && state?.fragment !== true) {
      return this.#send(this.#encoded(response));
    }
    const message: PbWatchResponse = {
      header: this.#header(response.revision),
      watchId: int64(response.watchId),
      events: response.events.map(_eventToPb),
    };
    if (response.compactRevision !== 0) {
      message.compactRevision = int64(response.compactRevision);
      message.canceled = true;
      this.#watchers.delete(response.watchId);
    }
    if (state?.fragment === true) return this.#sendFragments(message);
    this.#send(message);
  }

  /**
   * An events (or progress) response in wire form: the header is encoded once per revision and
   * the events once per events list, however many watchers receive them.
   */
  #encoded(response: WatchResponse): EncodedMessage {
    if (response.revision !== this.#headerRevision) {
      const header = etcdserverpb.ResponseHeader.encode(this.#header(response.revision)).finish();
      this.#headerField = headerField(header);
      this.#headerRevision = response.revision;
    }
    if (response.events !== this.#lastEvents) {
      this.#lastEventsFields = eventsFields(response.events);
      this.#lastEvents = response.events;
    }
    return new EncodedMessage(this.#writer.write(
      this.#headerField,
      response.watchId,
      this.#lastEventsFields,
      EncodedMessage.PREFIX_BYTES,
    ));
  }

  /** etcd's sendFragments: split events so that each message stays under the limit. */
  #sendFragments(message: PbWatchResponse): void {
    const limit = this.#server.maxRequestBytes;
    const events = message.events ?? [];
    const size = (m: PbWatchResponse) => etcdserverpb.WatchResponse.encode(m).len;
    if (events.length < 2 || size(message) < limit) return this.#send(message);
    let at = 0;
    while (at < events.length) {
      const part: PbWatchResponse = { ...message, events: [], fragment: true };
      const partEvents = part.events!;
      while (at < events.length) {
        partEvents.push(events[at]!);
        if (partEvents.length > 1 && size(part) >= limit) {
          partEvents.pop();
          break;
        }
        at++;
      }
      if (at === events.length) part.fragment = false;
      this.#send(part);
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#progressTimer !== undefined) clearInterval(this.#progressTimer);
    this.#stream.close();
  }
}

/** Builds the Watch handler over `server`. */
export function watchService(server: ServerApi): WatchService {
  return {
    watch: async (input, sink, ctx) => {
      const stream = new _ServerWatchStream(server, sink, requestContext(ctx));
      const pumping = stream.pump();
      try {
        for await (const request of input) stream.handle(request);
        // A client that half-closes still receives events until it cancels (as etcd).
        if (!ctx.signal.aborted) {
          await new Promise<void>((resolve) =>
            ctx.signal.addEventListener("abort", () => resolve(), { once: true })
          );
        }
      } finally {
        stream.close();
        await pumping;
      }
    },
  };
}
