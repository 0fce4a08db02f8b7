/**
 * bcrypt off the event loop. A bcrypt compare at cost 10 is a fifth of a second of CPU in
 * JavaScript; bcryptjs's "async" mode only slices it into 100 ms turns on the same thread, and
 * measured under 50 concurrent failed logins it held the member's event loop for seconds. Here
 * each hash or compare runs whole on a worker thread (at most `WORKERS_MAX` of them), so the
 * member's loop only posts a message and receives the answer.
 *
 * Workers start on first use and are terminated by `close()`. Where a worker cannot start or
 * fails (a build without the worker module, say), bcryptjs's async mode on this thread takes
 * over, for the requests under way too: an answer is never lost to the pool.
 *
 * @module
 */

import bcrypt from "bcryptjs";
import type { BcryptRequest, BcryptResponse } from "./bcrypt_worker.ts";

/** How many worker threads bcrypt may use. */
export const WORKERS_MAX = 2;
/** How many requests may wait for a worker before new ones are refused. */
const _QUEUE_MAX = 10_000;

type _Pending = {
  resolve: (response: BcryptResponse) => void;
  reject: (error: Error) => void;
  /** The same work on this thread, should the worker fail. */
  fallback: () => Promise<BcryptResponse>;
};

interface _Slot {
  worker: Worker;
  busy: number;
}

/** A small pool of bcrypt worker threads. */
export class BcryptPool {
  readonly #slots: _Slot[] = [];
  readonly #pending = new Map<number, _Pending & { slot: _Slot }>();
  #nextId = 1;
  #broken = false;

  /** The bcrypt hash of `password` at `cost`. */
  async hash(password: string, cost: number): Promise<string> {
    const response = await this.#run(
      { id: 0, op: "hash", password, cost },
      () => bcrypt.hash(password, cost).then((hash) => ({ id: 0, hash })),
    );
    if (response.hash === undefined) throw new Error(response.error ?? "bcrypt: no hash");
    return response.hash;
  }

  /** Whether `password` matches `hash` (false for a malformed hash). */
  async compare(password: string, hash: string): Promise<boolean> {
    const response = await this.#run(
      { id: 0, op: "compare", password, hash },
      () => bcrypt.compare(password, hash).then((same) => ({ id: 0, same }), () => ({ id: 0 })),
    );
    return response.same === true;
  }

  /** Terminates the workers; pending requests fail. */
  close(): void {
    for (const slot of this.#slots) slot.worker.terminate();
    this.#slots.length = 0;
    for (const pending of this.#pending.values()) pending.reject(new Error("bcrypt: closed"));
    this.#pending.clear();
  }

  #run(
    request: BcryptRequest,
    fallback: () => Promise<BcryptResponse>,
  ): Promise<BcryptResponse> {
    const slot = this.#broken ? undefined : this.#slot();
    if (slot === undefined) return fallback();
    if (this.#pending.size >= _QUEUE_MAX) return Promise.reject(new Error("bcrypt: too busy"));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, fallback, slot });
      slot.busy++;
      slot.worker.postMessage({ ...request, id });
    });
  }

  /** The least busy worker, starting one while fewer than WORKERS_MAX run. */
  #slot(): _Slot | undefined {
    const idle = this.#slots.find((slot) => slot.busy === 0);
    if (idle !== undefined) return idle;
    if (this.#slots.length < WORKERS_MAX) {
      try {
        const worker = new Worker(new URL("./bcrypt_worker.ts", import.meta.url).href, {
          type: "module",
        });
        const slot: _Slot = { worker, busy: 0 };
        worker.onmessage = (event: MessageEvent<BcryptResponse>) => this.#answer(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          this.#fail(slot, new Error(`bcrypt worker failed: ${event.message}`));
        };
        this.#slots.push(slot);
        return slot;
      } catch {
        this.#broken = true;
        return undefined;
      }
    }
    return this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  #answer(response: BcryptResponse): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return;
    this.#pending.delete(response.id);
    pending.slot.busy--;
    pending.resolve(response);
  }

  #fail(slot: _Slot, _error: Error): void {
    slot.worker.terminate();
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    this.#broken = true;
    for (const [id, pending] of this.#pending) {
      if (pending.slot !== slot) continue;
      this.#pending.delete(id);
      pending.fallback().then(pending.resolve, pending.reject);
    }
  }
}
