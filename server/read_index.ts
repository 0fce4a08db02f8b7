/**
 * Linearizable reads (etcd's `linearizableReadLoop` in `etcdserver/v3_server.go`).
 *
 * A read waits for one ReadIndex round: the leader confirms it is still leader and returns its
 * commit index; the read then waits until that index is applied. Reads share rounds: every
 * read that arrives while a round is in flight joins the next round, so one heartbeat round
 * serves any number of concurrent reads. A round whose answer does not come (no leader, a
 * dropped message) is retried after `retryMs`; a read gives up with `ErrTimeout` after
 * `timeoutMs` or when its signal aborts.
 *
 * @module
 */

import { ErrStopped, ErrTimeout } from "./errors.ts";
import type { ReadState } from "../raft/mod.ts";
import type { WaitIndex } from "./wait.ts";
import { serverReadIndexesFailedTotal, serverSlowReadIndexesTotal } from "./metrics.ts";

/** What the read loop needs from the server. */
export interface ReadIndexHost {
  /** Asks raft for a read index tagged with `context`. */
  readIndex(context: Uint8Array): void;
  /** Waits until the applied index reaches a value. */
  readonly applied: WaitIndex;
}

interface _Round {
  id: bigint;
  /** When the round gives up with ErrTimeout (ms since epoch). */
  deadlineMs: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Batches linearizable reads into shared ReadIndex rounds. */
export class ReadIndexer {
  readonly #host: ReadIndexHost;
  readonly #retryMs: number;
  readonly #timeoutMs: number;
  #nextId: bigint;
  /** The round whose answer is awaited. */
  #inFlight: _Round | undefined;
  /** The round that the reads arriving now will wait for. */
  #next: _Round | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** `idSeed` keeps contexts unique across restarts of the member. */
  constructor(
    host: ReadIndexHost,
    options: { retryMs: number; timeoutMs: number; idSeed: bigint },
  ) {
    this.#host = host;
    this.#retryMs = options.retryMs;
    this.#timeoutMs = options.timeoutMs;
    this.#nextId = options.idSeed;
  }

  /**
   * Resolves once the local state reflects every write committed before the call. The round
   * times out as a whole (no timer per read); `signal` is accepted for symmetry with the
   * other waits but a round is never abandoned for one reader.
   */
  async wait(_signal?: AbortSignal): Promise<void> {
    if (this.#stopped) throw ErrStopped;
    if (this.#next === undefined) this.#next = this.#makeRound();
    const round = this.#next;
    if (this.#inFlight === undefined) this.#startNext();
    await round.promise;
  }

  /** Feeds the read states of a Ready. */
  onReadStates(states: ReadState[]): void {
    const round = this.#inFlight;
    if (round === undefined) return;
    for (const state of states) {
      if (_contextId(state.requestCtx) !== round.id) {
        // etcd counts an out-of-date answer (to a context already retried) as a slow read.
        serverSlowReadIndexesTotal.inc();
        continue;
      }
      this.#inFlight = undefined;
      if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#host.applied.wait(state.index).then(round.resolve, round.reject);
      if (this.#next !== undefined) this.#startNext();
      return;
    }
  }

  /** Fails every pending read (the server stops). */
  stop(): void {
    this.#stopped = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#inFlight?.reject(ErrStopped);
    this.#next?.reject(ErrStopped);
    this.#inFlight = undefined;
    this.#next = undefined;
  }

  #makeRound(): _Round {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be listening when a round fails at stop(): keep that quiet.
    promise.catch(() => {});
    this.#nextId++;
    return { id: this.#nextId, deadlineMs: Infinity, promise, resolve, reject };
  }

  #startNext(): void {
    const round = this.#next;
    if (round === undefined) return;
    this.#next = undefined;
    this.#inFlight = round;
    round.deadlineMs = Date.now() + this.#timeoutMs;
    this.#send(round);
  }

  #send(round: _Round): void {
    if (this.#stopped || this.#inFlight !== round) return;
    try {
      this.#host.readIndex(_contextBytes(round.id));
    } catch {
      // Raft refuses while there is no leader; the retry below asks again.
      serverReadIndexesFailedTotal.inc();
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#inFlight !== round) return;
      if (Date.now() >= round.deadlineMs) {
        // Give up on this round; the reads queued behind it get a round of their own.
        this.#inFlight = undefined;
        serverSlowReadIndexesTotal.inc();
        round.reject(ErrTimeout);
        if (this.#next !== undefined) this.#startNext();
        return;
      }
      // A new context: an answer to the old one, if it still comes, is ignored.
      this.#nextId++;
      round.id = this.#nextId;
      this.#send(round);
    }, this.#retryMs);
  }
}

function _contextBytes(id: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, id), false);
  return bytes;
}

function _contextId(bytes: Uint8Array): bigint {
  if (bytes.length !== 8) return -1n;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false);
}
