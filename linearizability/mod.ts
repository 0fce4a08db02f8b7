/**
 * linearizability: a Wing-Gong / Porcupine checker for concurrent histories, with a model of
 * etcd's KV API, a recorder for histories taken from real clients, and a readable report of
 * the offending sub-history when a history is not linearizable.
 *
 * @module
 */

export { type Model } from "./model.ts";
export { HistoryRecorder, type Operation, type PendingCall } from "./history.ts";
export {
  checkOperations,
  type CheckOptions,
  type CheckResult,
  type CheckVerdict,
  type Violation,
} from "./checker.ts";
export { type DescribeOptions, describeResult } from "./describe.ts";
export {
  casInput,
  type KvCompare,
  type KvInput,
  kvKeys,
  kvModel,
  type KvOutput,
  type KvState,
  type KvTxnOp,
} from "./kv_model.ts";
