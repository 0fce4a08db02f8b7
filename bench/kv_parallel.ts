/**
 * Spreads one load over several Workers (each with its own connections and loops), starts
 * them together and merges their latencies into one result.
 *
 * @module
 */

import type { LoadOptions } from "./kv_load.ts";
import type { RunResult } from "./kv_report.ts";
import type { FromWorker, ToWorker } from "./kv_worker.ts";

/** Runs `options` split over `workers` Workers; clients, conns and total are divided. */
export async function runLoadInWorkers(options: LoadOptions, workers: number): Promise<RunResult> {
  if (workers < 1) throw new RangeError("--workers must be >= 1");
  if (options.clients < workers || options.conns < workers || options.total < workers) {
    throw new RangeError("--clients, --conns and --total must each be >= --workers");
  }
  const shares = Array.from({ length: workers }, (_, index) => {
    const share = (count: number) =>
      Math.floor(count / workers) + (index < count % workers ? 1 : 0);
    const offset = index * Math.ceil(options.clients / workers);
    return {
      ...options,
      clients: share(options.clients),
      conns: share(options.conns),
      total: share(options.total),
      clientIndexOffset: (options.clientIndexOffset ?? 0) + offset,
    };
  });
  const threads = shares.map(() =>
    new Worker(new URL("./kv_worker.ts", import.meta.url), { type: "module" })
  );
  try {
    const inbox = threads.map((thread) => _inbox(thread));
    threads.forEach((thread, index) => {
      const message: ToWorker = { type: "prepare", options: shares[index] as LoadOptions };
      thread.postMessage(message);
    });
    for (const box of inbox) _expect(await box.next(), "ready");
    const started = performance.now();
    for (const thread of threads) thread.postMessage({ type: "go" } satisfies ToWorker);
    const results: RunResult[] = [];
    for (const box of inbox) {
      const message = _expect(await box.next(), "done");
      if (message.type === "done") results.push(message.result);
    }
    const elapsedMs = performance.now() - started;
    return _merge(options.label, results, elapsedMs);
  } finally {
    for (const thread of threads) thread.terminate();
  }
}

function _merge(label: string, results: RunResult[], elapsedMs: number): RunResult {
  const succeeded = results.reduce((sum, result) => sum + result.succeeded, 0);
  const latenciesMs = new Float64Array(succeeded);
  let offset = 0;
  for (const result of results) {
    latenciesMs.set(result.latenciesMs, offset);
    offset += result.latenciesMs.length;
  }
  return {
    label,
    operation: results[0]?.operation ?? "",
    succeeded,
    failed: results.reduce((sum, result) => sum + result.failed, 0),
    elapsedMs,
    latenciesMs,
  };
}

function _expect(message: FromWorker, type: FromWorker["type"]): FromWorker {
  if (message.type === "error") throw new Error(`worker: ${message.message}`);
  if (message.type !== type) throw new Error(`worker: expected ${type}, got ${message.type}`);
  return message;
}

/** The messages of one worker, in order, as a pull-based queue. */
function _inbox(thread: Worker): { next(): Promise<FromWorker> } {
  const queue: FromWorker[] = [];
  const waiters: ((message: FromWorker) => void)[] = [];
  thread.onmessage = (event: MessageEvent<FromWorker>) => {
    const waiter = waiters.shift();
    if (waiter) waiter(event.data);
    else queue.push(event.data);
  };
  thread.onerror = (event) => {
    event.preventDefault();
    const message: FromWorker = { type: "error", message: event.message };
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  };
  return {
    next() {
      const message = queue.shift();
      if (message !== undefined) return Promise.resolve(message);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}
