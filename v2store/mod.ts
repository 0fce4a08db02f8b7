/**
 * The v2 store of etcd 3.4 (`etcdserver/api/v2store` and `v2error`): the hierarchical key
 * space behind `/v2/keys` and the membership records under `/0`, its events and watches, its
 * errors, and its `.snap` JSON. Pure: no I/O, the clock injected.
 *
 * @module
 */
export {
  CLUSTER_PREFIX,
  KEYS_PREFIX,
  STORE_VERSION,
  type TtlOptions,
  V2Store,
  type V2StoreOptions,
} from "./store.ts";
export {
  ActionCompareAndDelete,
  ActionCompareAndSwap,
  ActionCreate,
  ActionDelete,
  ActionExpire,
  ActionGet,
  ActionSet,
  ActionUpdate,
  cloneEvent,
  eventIndex,
  eventJson,
  isCreated,
  type JsonOptions,
  type NodeExtern,
  nodeExternJson,
  type V2Event,
} from "./event.ts";
export * from "./errors.ts";
export { EVENT_HISTORY_CAPACITY, EventHistory, Watcher, WatcherHub } from "./watcher_hub.ts";
export { recoverStore, saveStore, saveStoreText } from "./save.ts";
export { Stats } from "./stats.ts";
export { formatGoTime, MIN_EXPIRE_TIME_NS, parseGoTime, PERMANENT, wallClockNs } from "./time.ts";
export { cleanPath, splitPath, storePath } from "./path.ts";
export { V2Node } from "./node.ts";
