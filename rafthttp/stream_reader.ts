/**
 * The receiving half of a stream (etcd stream.go streamReader): we dial the peer with a GET on
 * `/raft/stream/<kind>/<our id>` and decode the messages of the endless body. A body silent for
 * `connReadTimeoutMs` (no link heartbeat either) is taken for dead and dialed again; failed
 * dials back off from `dialRetryMs` doubling up to `dialRetryMaxMs`.
 *
 * @module
 */

import type { Message } from "../raft/mod.ts";
import { ByteQueue } from "./byte_queue.ts";
import { decodeMessageFrame } from "./msg_codec.ts";
import { isLinkHeartbeat, MsgAppV2Decoder } from "./msgappv2_codec.ts";
import type { PeerStatus } from "./peer_status.ts";
import { streamEndpoint, type StreamType, streamTypeName } from "./stream_type.ts";
import type { PeerStreamResponse } from "./peer_client.ts";
import type { UrlPicker } from "./url_picker.ts";
import { ERROR_MEMBER_REMOVED, type TransportContext } from "./transport_types.ts";
import {
  ERROR_CLUSTER_ID_MISMATCH,
  ERROR_INCOMPATIBLE_VERSION,
  HEADER_CLUSTER_ID,
  HEADER_RAFT_TO,
  idToHex,
  peerRequestHeaders,
} from "./version.ts";
import { peerReceivedBytesTotal, peerReceivedFailuresTotal } from "./metrics.ts";

/** Why a dial did not give a stream. */
class _DialError extends Error {}

/** The reader of one stream kind from one peer. */
export class StreamReader {
  #abort: AbortController | undefined;
  #stopped = false;
  #paused = false;
  #done: Promise<void> | undefined;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeSleep: (() => void) | undefined;

  readonly #context: TransportContext;
  readonly #peerId: bigint;
  readonly #type: StreamType;
  readonly #picker: UrlPicker;
  readonly #status: PeerStatus;
  /** Where decoded messages go (the peer's inboxes). */
  readonly #deliver: (message: Message) => void;

  constructor(
    context: TransportContext,
    peerId: bigint,
    type: StreamType,
    picker: UrlPicker,
    status: PeerStatus,
    deliver: (message: Message) => void,
  ) {
    this.#context = context;
    this.#peerId = peerId;
    this.#type = type;
    this.#picker = picker;
    this.#status = status;
    this.#deliver = deliver;
  }

  /** Starts the dial-read-redial loop. */
  start(): void {
    if (this.#done !== undefined) return;
    this.#done = this.#run();
  }

  /** Drops received messages while paused (etcd's Pause, used to cut a peer in tests). */
  setPaused(paused: boolean): void {
    this.#paused = paused;
  }

  /** Stops the loop and waits for it to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    if (this.#sleepTimer !== undefined) clearTimeout(this.#sleepTimer);
    this.#wakeSleep?.();
    await this.#done;
  }

  #fields(): Record<string, string> {
    return {
      "stream-reader-type": streamTypeName(this.#type),
      "local-member-id": idToHex(this.#context.id),
      "remote-peer-id": idToHex(this.#peerId),
    };
  }

  async #run(): Promise<void> {
    this.#context.logger.info("started stream reader with remote peer", this.#fields());
    let retryMs = this.#context.timings.dialRetryMs;
    while (!this.#stopped) {
      const abort = new AbortController();
      this.#abort = abort;
      let body: PeerStreamResponse | undefined;
      try {
        body = await this.#dial(abort.signal);
      } catch (error) {
        if (!this.#stopped) {
          this.#status.deactivate(streamTypeName(this.#type), "dial", _message(error));
        }
      }
      if (body !== undefined) {
        retryMs = this.#context.timings.dialRetryMs;
        this.#status.activate();
        this.#context.logger.info(
          "established TCP streaming connection with remote peer",
          this.#fields(),
        );
        const error = await this.#decodeLoop(body, abort);
        if (!this.#stopped) {
          this.#context.logger.warn("lost TCP streaming connection with remote peer", {
            ...this.#fields(),
            error: error === undefined ? "EOF" : _message(error),
          });
          if (error !== undefined) {
            this.#status.deactivate(streamTypeName(this.#type), "read", _message(error));
          }
        }
      }
      abort.abort();
      if (this.#stopped) break;
      await this.#sleep(retryMs);
      retryMs = Math.min(retryMs * 2, this.#context.timings.dialRetryMaxMs);
    }
    this.#context.logger.info("stopped stream reader with remote peer", this.#fields());
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleep = resolve;
      this.#sleepTimer = setTimeout(() => {
        this.#sleepTimer = undefined;
        this.#wakeSleep = undefined;
        resolve();
      }, ms);
    });
  }

  async #dial(signal: AbortSignal): Promise<PeerStreamResponse> {
    const base = this.#picker.pick();
    const url = `${base}${streamEndpoint(this.#type)}/${idToHex(this.#context.id)}`;
    const headers = {
      ...peerRequestHeaders({
        from: this.#context.id,
        clusterId: this.#context.clusterId,
        urls: this.#context.urls,
      }),
      [HEADER_RAFT_TO]: idToHex(this.#peerId),
    };
    // The dial itself (connect + response headers) is bounded by the read timeout.
    const dialTimer = setTimeout(
      () => this.#abort?.abort(),
      this.#context.timings.connReadTimeoutMs,
    );
    let response: PeerStreamResponse;
    try {
      response = await this.#context.peerClient.openStream(url, { headers, signal });
    } catch (error) {
      this.#picker.unreachable(base);
      throw error;
    } finally {
      clearTimeout(dialTimer);
    }
    if (response.status === 200) return response;
    const text = await response.text().catch(() => "");
    this.#picker.unreachable(base);
    switch (response.status) {
      case 410:
        this.#context.reportCriticalError(new Error(ERROR_MEMBER_REMOVED));
        throw new _DialError(ERROR_MEMBER_REMOVED);
      case 404:
        throw new _DialError(
          `peer ${idToHex(this.#peerId)} failed to find local node ${idToHex(this.#context.id)}`,
        );
      case 412: {
        const reason = text.replace(/\n$/, "");
        if (reason === ERROR_INCOMPATIBLE_VERSION) {
          this.#context.logger.warn(
            "request sent was ignored by remote peer due to server version incompatibility",
            this.#fields(),
          );
        } else if (reason === ERROR_CLUSTER_ID_MISMATCH) {
          this.#context.logger.warn(
            "request sent was ignored by remote peer due to cluster ID mismatch",
            {
              ...this.#fields(),
              "remote-peer-cluster-id": response.headers.get(HEADER_CLUSTER_ID) ?? "",
              "local-member-cluster-id": idToHex(this.#context.clusterId),
            },
          );
        }
        throw new _DialError(reason);
      }
      default:
        throw new _DialError(`unhandled http status ${response.status}`);
    }
  }

  /** Reads and delivers messages until the body ends or fails; returns the failure. */
  async #decodeLoop(body: PeerStreamResponse, abort: AbortController): Promise<unknown> {
    const queue = new ByteQueue();
    const v2 = this.#type === "msgappv2"
      ? new MsgAppV2Decoder(this.#context.id, this.#peerId)
      : undefined;
    const decode = v2 !== undefined ? () => v2.decode(queue) : () => decodeMessageFrame(queue);
    const from = { From: idToHex(this.#peerId) };
    // The read deadline (etcd sets one on the connection before every read) is kept lazily: a
    // chunk only records when it came, and one timer, due when the deadline of the last chunk
    // it knows of would pass, checks that time and re-arms itself for the rest. A timer per
    // chunk (clear, then set again) cost two timer-heap updates and a timer op on every read of
    // the busiest path of a cluster put (issue #14's profile of the 1-client row). The abort
    // closes the connection (or ends the pending read), which ends the loop.
    const timeoutMs = this.#context.timings.connReadTimeoutMs;
    let timedOut = false;
    let lastReadMs = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watch = () => {
      const silentMs = performance.now() - lastReadMs;
      if (silentMs >= timeoutMs) {
        timer = undefined;
        timedOut = true;
        abort.abort();
        return;
      }
      timer = setTimeout(watch, timeoutMs - silentMs);
    };
    try {
      timer = setTimeout(watch, timeoutMs);
      while (true) {
        const value = await body.read();
        if (value === null) return undefined;
        if (abort.signal.aborted) throw abort.signal.reason;
        lastReadMs = performance.now();
        peerReceivedBytesTotal.inc(from, value.length);
        queue.push(value);
        for (let message = decode(); message !== undefined; message = decode()) {
          if (this.#paused || isLinkHeartbeat(message)) continue;
          this.#deliver(message);
        }
      }
    } catch (error) {
      if (this.#stopped) return undefined;
      peerReceivedFailuresTotal.inc(from);
      return timedOut ? new Error("read timeout: no data for connReadTimeoutMs") : error;
    } finally {
      clearTimeout(timer);
      body.close();
    }
  }
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
