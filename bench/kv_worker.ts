/**
 * A Worker of the KV load tool: prepares its share of the load when asked, reports ready,
 * runs it on `go`, and posts the result back. One Deno isolate drives about 3-4k gRPC
 * requests a second through grpc-js, so the tool spreads clients over workers.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { type LoadOptions, type PreparedLoad, prepareLoad } from "./kv_load.ts";

/** Messages from the main thread. */
export type ToWorker = { type: "prepare"; options: LoadOptions } | { type: "go" };
/** Messages to the main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "error"; message: string }
  | { type: "done"; result: import("./kv_report.ts").RunResult };

let prepared: PreparedLoad | undefined;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  try {
    if (event.data.type === "prepare") {
      prepared = await prepareLoad(event.data.options);
      post({ type: "ready" });
    } else {
      if (prepared === undefined) throw new Error("go before prepare");
      const result = await prepared.run();
      post({ type: "done", result }, [result.latenciesMs.buffer]);
    }
  } catch (error) {
    prepared?.close();
    post({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
};
