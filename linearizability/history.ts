/**
 * Concurrent histories: what each client asked, what it was answered, and when (Porcupine's
 * `Operation`). An operation whose answer never came (a timeout, a dropped connection) has an
 * unknown output and returns at +Infinity: it may have taken effect at any time after its call,
 * or never, which is the same as taking effect after every operation that was observed.
 *
 * @module
 */

/** One operation of a history. */
export interface Operation<I, O> {
  /** The client (a sequential process) that issued it; one client never overlaps itself. */
  clientId: number;
  input: I;
  /** The answer; `undefined` when unknown. */
  output: O | undefined;
  /** When the call was issued (ms, any monotonic clock shared by all clients). */
  call: number;
  /** When the answer arrived; `Infinity` when unknown. */
  return: number;
}

/** A call in progress, returned by {@link HistoryRecorder.call}. */
export interface PendingCall {
  readonly index: number;
}

/**
 * Records a history from concurrent clients. Use one recorder for the whole test; every
 * client calls `call` before sending a request and `returned` (or `unknown`) when it is over.
 */
export class HistoryRecorder<I, O> {
  readonly #operations: Operation<I, O>[] = [];
  readonly #open = new Set<number>();

  readonly #clock: () => number;

  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /** Notes the call of `input` by `clientId`, now. */
  call(clientId: number, input: I): PendingCall {
    const index = this.#operations.length;
    this.#operations.push({
      clientId,
      input,
      output: undefined,
      call: this.#clock(),
      return: Infinity,
    });
    this.#open.add(index);
    return { index };
  }

  /** Notes the answer of a call, now. */
  returned(pending: PendingCall, output: O): void {
    const operation = this.#close(pending);
    operation.output = output;
    operation.return = this.#clock();
    if (operation.return < operation.call) throw new Error("clock went backwards");
  }

  /** Notes that the outcome of a call is unknown (it may or may not have taken effect). */
  unknown(pending: PendingCall): void {
    this.#close(pending);
  }

  /** The operations recorded; calls still open count as unknown. */
  history(): Operation<I, O>[] {
    return this.#operations.map((operation) => ({ ...operation }));
  }

  #close(pending: PendingCall): Operation<I, O> {
    if (!this.#open.delete(pending.index)) throw new Error("call already closed");
    return this.#operations[pending.index]!;
  }
}
