/**
 * A bounded queue of received messages in front of `raft.process` (etcd peer.go recvc/propc).
 * Messages are processed strictly in arrival order; a `process` that returns a promise holds
 * the queue until it settles. Proposals get their own inbox so that a proposal waiting for a
 * leader never delays votes and appends.
 *
 * @module
 */

import { type Message, messageTypeName } from "../raft/mod.ts";
import type { TransportContext } from "./transport_types.ts";
import { idToHex } from "./version.ts";

/** Received messages waiting for raft, bounded. */
export class Inbox {
  #queue: Message[] = [];
  #head = 0;
  #draining = false;
  #stopped = false;
  #lastDropLogMs = 0;

  readonly #context: TransportContext;
  readonly #capacity: number;

  constructor(context: TransportContext, capacity: number) {
    this.#context = context;
    this.#capacity = capacity;
  }

  /** Queues a message for raft; drops it (with a rate-limited warning) when full. */
  push(message: Message): void {
    if (this.#stopped) return;
    if (this.#queue.length - this.#head >= this.#capacity) {
      const now = performance.now();
      if (now - this.#lastDropLogMs > 1000) {
        this.#lastDropLogMs = now;
        this.#context.logger.warn(
          "dropped internal Raft message since receiving buffer is full (overloaded network)",
          {
            "message-type": messageTypeName(message.type),
            "local-member-id": idToHex(this.#context.id),
            from: idToHex(message.from),
          },
        );
      }
      return;
    }
    this.#queue.push(message);
    if (!this.#draining) this.#drain();
  }

  /** Drops what is queued and refuses more. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#head = 0;
  }

  #drain(): void {
    this.#draining = true;
    while (this.#head < this.#queue.length && !this.#stopped) {
      const message = this.#queue[this.#head++]!;
      let result: void | Promise<void>;
      try {
        result = this.#context.raft.process(message);
      } catch (error) {
        this.#warn(message, error);
        continue;
      }
      if (result instanceof Promise) {
        result.catch((error) => this.#warn(message, error)).finally(() => this.#drain());
        return;
      }
    }
    this.#queue = [];
    this.#head = 0;
    this.#draining = false;
  }

  #warn(message: Message, error: unknown): void {
    this.#context.logger.warn("failed to process Raft message", {
      "local-member-id": idToHex(this.#context.id),
      "message-type": messageTypeName(message.type),
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
