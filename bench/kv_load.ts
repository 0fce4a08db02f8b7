/**
 * The load loops of the KV load tool: `clients` concurrent loops share `conns` gRPC
 * connections (round-robin) and together issue `total` requests of one kind, recording the
 * latency of each.
 *
 * Operations, modelled on etcd's `tools/benchmark`:
 * - `put`: Put of a random key from a key space of `keySpaceSize` keys.
 * - `range`: Range of one existing key; `serializable` picks etcd's `--consistency s`.
 * - `txn`: Txn of one compare that always holds (mod_revision < 2^52) and one put, so that
 *   the server evaluates a compare and applies a write, as `benchmark txn-put` does.
 * - `watch`: each client watches its own key, then repeatedly puts it and waits for the
 *   event; the latency is put-to-event.
 *
 * @module
 */

import { H2GrpcClient } from "../api/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import { etcdserverpb } from "../etcdserverpb/mod.ts";
import { numberToLong } from "../etcdserverpb/mod.ts";
import type { RunResult } from "./kv_report.ts";

/** The kinds of load. */
export type Operation = "put" | "range" | "txn" | "watch";

/** What to run against which endpoints. */
export interface LoadOptions {
  label: string;
  endpoints: string[];
  operation: Operation;
  /** Concurrent request loops. */
  clients: number;
  /** gRPC connections, shared round-robin by the loops. */
  conns: number;
  /** Requests in all. */
  total: number;
  keySizeBytes: number;
  valueSizeBytes: number;
  /** Distinct keys written by put/txn. */
  keySpaceSize: number;
  /** Range reads without a ReadIndex round. */
  serializable: boolean;
  /** Per-request deadline. */
  timeoutMs: number;
  /** Added to each loop's index (watch keys stay distinct across workers). */
  clientIndexOffset?: number;
  /**
   * gRPC client: `native` (our HTTP/2 client, unary calls only, about 2x the calls per
   * second of grpc-js under Deno) or `grpc-js`. The watch load always uses grpc-js.
   */
  client?: "native" | "grpc-js";
}

/** What the loops need of a connection. */
interface _Connection {
  unary: EtcdGrpcClient["unary"];
  close(): void;
}

/** Errors past this many stop the run: a broken server should not spin the tool. */
const FAILURES_MAX = 1000;

/** A load prepared (connections open, key written) and ready to start. */
export interface PreparedLoad {
  /** Runs the load; resolves with every latency. Closes the connections at the end. */
  run(): Promise<RunResult>;
  /** Closes the connections without running. */
  close(): void;
}

/** Runs the load and returns every latency. */
export async function runLoad(options: LoadOptions): Promise<RunResult> {
  const prepared = await prepareLoad(options);
  return await prepared.run();
}

/** Opens the connections and writes the key that range reads. */
export async function prepareLoad(options: LoadOptions): Promise<PreparedLoad> {
  if (options.clients < 1 || options.conns < 1 || options.total < 1) {
    throw new RangeError("--clients, --conns and --total must be >= 1");
  }
  if (options.keySizeBytes < 4 || options.keySpaceSize < 1) {
    throw new RangeError("--key-size must be >= 4 and --key-space-size >= 1");
  }
  const native = (options.client ?? "native") === "native" && options.operation !== "watch";
  const endpoints = Array.from(
    { length: options.conns },
    (_, index) => options.endpoints[index % options.endpoints.length] ?? "",
  );
  const connections: _Connection[] = native
    ? await Promise.all(endpoints.map((endpoint) => H2GrpcClient.connect(endpoint)))
    : endpoints.map((endpoint) => new EtcdGrpcClient(endpoint));
  const close = () => {
    for (const connection of connections) connection.close();
  };
  const value = _filled(options.valueSizeBytes, 0x76);
  try {
    await _warmUp(connections, options, value);
  } catch (error) {
    close();
    throw error;
  }
  return {
    close,
    async run(): Promise<RunResult> {
      const latenciesMs = new Float64Array(options.total);
      const state = { issued: 0, succeeded: 0, failed: 0, lastError: "" };
      try {
        const started = performance.now();
        const loops = Array.from({ length: options.clients }, (_, index) => {
          const connection = connections[index % connections.length];
          if (connection === undefined) throw new Error("no connection");
          return _loop(
            connection,
            index + (options.clientIndexOffset ?? 0),
            options,
            value,
            latenciesMs,
            state,
          );
        });
        await Promise.all(loops);
        const elapsedMs = performance.now() - started;
        if (state.failed > 0) console.error(`${options.label}: last error: ${state.lastError}`);
        return {
          label: options.label,
          operation: _operationName(options),
          succeeded: state.succeeded,
          failed: state.failed,
          elapsedMs,
          latenciesMs: latenciesMs.slice(0, state.succeeded),
        };
      } finally {
        close();
      }
    },
  };
}

function _operationName(options: LoadOptions): string {
  if (options.operation !== "range") return options.operation;
  return options.serializable ? "range (serializable)" : "range (linearizable)";
}

/** Connects every connection and writes the key that range reads. */
async function _warmUp(
  connections: _Connection[],
  options: LoadOptions,
  value: Uint8Array,
): Promise<void> {
  const key = _key(0, options.keySizeBytes);
  for (const connection of connections) {
    await connection.unary(METHODS.KV.Put, { key, value }, { timeoutMs: 10_000 });
  }
}

async function _loop(
  connection: _Connection,
  clientIndex: number,
  options: LoadOptions,
  value: Uint8Array,
  latenciesMs: Float64Array,
  state: { issued: number; succeeded: number; failed: number; lastError: string },
): Promise<void> {
  const watch = options.operation === "watch"
    ? await _openWatch(
      connection as EtcdGrpcClient,
      _key(1_000_000 + clientIndex, options.keySizeBytes),
    )
    : undefined;
  try {
    while (state.issued < options.total && state.failed < FAILURES_MAX) {
      state.issued += 1;
      const started = performance.now();
      try {
        if (watch === undefined) await _request(connection, options, value);
        else await watch.putAndWait(value, options.timeoutMs);
        latenciesMs[state.succeeded] = performance.now() - started;
        state.succeeded += 1;
      } catch (error) {
        state.failed += 1;
        state.lastError = error instanceof Error ? error.message : String(error);
      }
    }
  } finally {
    watch?.close();
  }
}

function _request(
  connection: _Connection,
  options: LoadOptions,
  value: Uint8Array,
): Promise<unknown> {
  const callOptions = { timeoutMs: options.timeoutMs };
  switch (options.operation) {
    case "put": {
      const key = _key(_randomKey(options.keySpaceSize), options.keySizeBytes);
      return connection.unary(METHODS.KV.Put, { key, value }, callOptions);
    }
    case "range": {
      const key = _key(0, options.keySizeBytes);
      const request = { key, serializable: options.serializable };
      return connection.unary(METHODS.KV.Range, request, callOptions);
    }
    case "txn": {
      const key = _key(_randomKey(options.keySpaceSize), options.keySizeBytes);
      const request: etcdserverpb.TxnRequest.$Properties = {
        // Always true: a key's mod revision is below 2^62. It makes the server read the key.
        compare: [{
          key,
          target: etcdserverpb.Compare.CompareTarget.MOD,
          result: etcdserverpb.Compare.CompareResult.LESS,
          modRevision: numberToLong(2 ** 52),
        }],
        success: [{ requestPut: { key, value } }],
      };
      return connection.unary(METHODS.KV.Txn, request, callOptions);
    }
    case "watch":
      throw new Error("watch runs through _openWatch");
  }
}

/** One watch stream on one key, with a put-then-wait-for-event step. */
async function _openWatch(connection: EtcdGrpcClient, key: Uint8Array): Promise<{
  putAndWait(value: Uint8Array, timeoutMs: number): Promise<void>;
  close(): void;
}> {
  const call = connection.bidi(METHODS.Watch.Watch);
  const iterator = call.responses[Symbol.asyncIterator]();
  call.send({ createRequest: { key } });
  const created = await iterator.next();
  const first = created.value as etcdserverpb.WatchResponse | undefined;
  if (created.done || first?.created !== true) throw new Error("watch was not created");
  return {
    async putAndWait(value, timeoutMs) {
      await connection.unary(METHODS.KV.Put, { key, value }, { timeoutMs });
      // Responses without events (progress notifications) are skipped.
      while (true) {
        const next = await iterator.next();
        if (next.done) throw new Error("watch stream ended");
        const response = next.value as etcdserverpb.WatchResponse;
        if (response.canceled) throw new Error(`watch canceled: ${response.cancelReason}`);
        if (response.events.length > 0) return;
      }
    },
    close() {
      call.cancel();
    },
  };
}

function _randomKey(keySpaceSize: number): number {
  return Math.floor(Math.random() * keySpaceSize);
}

/** Key `index` as `keySizeBytes` bytes (big-endian digits, zero padded), as etcd's tool. */
function _key(index: number, keySizeBytes: number): Uint8Array {
  const key = new Uint8Array(keySizeBytes);
  let rest = index;
  for (let position = keySizeBytes - 1; position >= 0 && rest > 0; position--) {
    key[position] = rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return key;
}

function _filled(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}
