/**
 * The bounded window of MsgApp in flight to one follower (etcd's tracker/inflights.go): a ring
 * buffer of the last index of each unacknowledged message. A full window pauses replication.
 *
 * @module
 */

import { raftAssert } from "./errors.ts";

/** A ring buffer of in-flight last indexes, bounded by `size`. */
export class Inflights {
  #start = 0;
  #count = 0;
  readonly #size: number;
  #buffer: number[] = [];

  /** A window of at most `size` messages. */
  constructor(size: number) {
    raftAssert(Number.isInteger(size) && size > 0, () => `inflights size ${size} must be > 0`);
    this.#size = size;
  }

  /** Records a message whose last entry is `inflight`; indexes must be added in order. */
  add(inflight: number): void {
    raftAssert(!this.full(), "cannot add into a full inflights");
    let next = this.#start + this.#count;
    if (next >= this.#size) next -= this.#size;
    // Grow lazily up to the bound, as etcd does, so idle followers cost little memory.
    while (this.#buffer.length <= next) this.#buffer.push(0);
    this.#buffer[next] = inflight;
    this.#count++;
  }

  /** Frees every in-flight message whose last index is <= `to`. */
  freeLE(to: number): void {
    if (this.#count === 0 || to < this.#buffer[this.#start]!) return;
    let idx = this.#start;
    let i = 0;
    for (; i < this.#count; i++) {
      if (to < this.#buffer[idx]!) break;
      idx++;
      if (idx >= this.#size) idx -= this.#size;
    }
    this.#count -= i;
    this.#start = idx;
    // Nothing in flight: restart at 0 to keep the buffer compact.
    if (this.#count === 0) this.#start = 0;
  }

  /** Frees the oldest in-flight message (a heartbeat response reopens a full window). */
  freeFirstOne(): void {
    if (this.#count === 0) return;
    this.freeLE(this.#buffer[this.#start]!);
  }

  /** True when no more messages may be sent. */
  full(): boolean {
    return this.#count === this.#size;
  }

  /** The number of messages in flight. */
  count(): number {
    return this.#count;
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.#count = 0;
    this.#start = 0;
  }
}
