/**
 * The v2 store as etcd 3.4 saves it into `.snap` files (`store.Save`, Go's encoding/json of
 * the store struct) and reads it back (`store.Recovery`). Field order and names are Go's:
 *
 * ```
 * {"Root":<node>,"WatcherHub":{"EventHistory":{"Queue":{"Events":[<event>|null x capacity],
 *   "Size":n,"Front":n,"Back":n,"Capacity":n},"StartIndex":n,"LastIndex":n}},
 *  "CurrentIndex":n,"Stats":{...},"CurrentVersion":2}
 * <node> = {"Path":"/..","CreatedIndex":n,"ModifiedIndex":n,"ExpireTime":"<RFC 3339>",
 *           "Value":"..","Children":{<name>:<node>,...} (sorted by name) | null}
 * ```
 *
 * @module
 */

import { goJsonString } from "./errors.ts";
import { eventJson, type NodeExtern, type V2Event } from "./event.ts";
import { V2Node } from "./node.ts";
import { Stats } from "./stats.ts";
import type { V2Store } from "./store.ts";
import { formatGoTime, parseGoTime, PERMANENT } from "./time.ts";
import { EventHistory } from "./watcher_hub.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** The store's JSON, as etcd writes it into the `.snap` file's data. */
export function saveStore(store: V2Store): Uint8Array {
  return _encoder.encode(saveStoreText(store));
}

/** The store's JSON text. */
export function saveStoreText(store: V2Store): string {
  const h = store.hub.history;
  const events = h.events.map((e) => (e === null ? "null" : eventJson(e))).join(",");
  const hub = `{"EventHistory":{"Queue":{"Events":[${events}],"Size":${h.size},` +
    `"Front":${h.front},"Back":${h.back},"Capacity":${h.capacity}},` +
    `"StartIndex":${h.startIndex},"LastIndex":${h.lastIndex}}}`;
  return `{"Root":${_nodeJson(store.root)},"WatcherHub":${hub},` +
    `"CurrentIndex":${store.currentIndex},"Stats":${store.stats.toJson()},` +
    `"CurrentVersion":${store.currentVersion}}`;
}

function _nodeJson(n: V2Node): string {
  let children = "null";
  if (n.children !== null) {
    const names = [...n.children.keys()].sort(_byteOrder);
    const body = names.map((name) => `${goJsonString(name)}:${_nodeJson(n.children!.get(name)!)}`);
    children = `{${body.join(",")}}`;
  }
  return `{"Path":${goJsonString(n.path)},"CreatedIndex":${n.createdIndex},` +
    `"ModifiedIndex":${n.modifiedIndex},"ExpireTime":"${formatGoTime(n.expireTime)}",` +
    `"Value":${goJsonString(n.value)},"Children":${children}}`;
}

function _byteOrder(a: string, b: string): number {
  const x = _encoder.encode(a);
  const y = _encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

interface _RawNode {
  Path?: string;
  CreatedIndex?: number;
  ModifiedIndex?: number;
  ExpireTime?: string;
  Value?: string;
  Children?: Record<string, _RawNode> | null;
}

interface _RawNodeExtern {
  key?: string;
  value?: string;
  dir?: boolean;
  expiration?: string;
  ttl?: number;
  nodes?: _RawNodeExtern[] | null;
  modifiedIndex?: number;
  createdIndex?: number;
}

interface _RawEvent {
  action?: string;
  node?: _RawNodeExtern | null;
  prevNode?: _RawNodeExtern | null;
  refresh?: boolean;
}

interface _RawStore {
  Root?: _RawNode | null;
  WatcherHub?: {
    EventHistory?: {
      Queue?: {
        Events?: (_RawEvent | null)[] | null;
        Size?: number;
        Front?: number;
        Back?: number;
        Capacity?: number;
      };
      StartIndex?: number;
      LastIndex?: number;
    } | null;
  } | null;
  CurrentIndex?: number;
  Stats?: Record<string, unknown> | null;
  CurrentVersion?: number;
}

/**
 * Replaces the store's content with saved JSON (etcd's Recovery): the tree, the event
 * history, the index, the counters; the TTL heap is rebuilt from the tree. Watchers stay.
 */
export function recoverStore(store: V2Store, data: Uint8Array | string): void {
  const text = typeof data === "string" ? data : _decoder.decode(data);
  const raw = JSON.parse(text) as _RawStore;
  if (raw.Root === undefined || raw.Root === null) {
    throw new Error("v2store: saved store without a Root");
  }
  const root = _parseNode(raw.Root, null);
  const eh = raw.WatcherHub?.EventHistory;
  const queue = eh?.Queue;
  const capacity = queue?.Capacity ?? store.hub.history.capacity;
  if (!(capacity > 0)) throw new Error(`v2store: bad event history capacity ${capacity}`);
  const history = new EventHistory(capacity);
  const events = queue?.Events ?? [];
  for (let i = 0; i < capacity; i++) {
    const e = events[i];
    history.events[i] = e === undefined || e === null ? null : _parseEvent(e);
  }
  history.size = queue?.Size ?? 0;
  history.front = queue?.Front ?? 0;
  history.back = queue?.Back ?? 0;
  history.startIndex = eh?.StartIndex ?? 0;
  history.lastIndex = eh?.LastIndex ?? 0;
  // Drop the TTL heap's view of the old tree before replacing it.
  for (let n = store.ttlHeap.pop(); n !== undefined; n = store.ttlHeap.pop()) { /* drain */ }
  store.root = root;
  store.hub.history = history;
  store.currentIndex = raw.CurrentIndex ?? 0;
  store.stats = Stats.fromJson(raw.Stats);
  store.currentVersion = raw.CurrentVersion ?? 2;
  _pushTtlNodes(store, root);
}

function _pushTtlNodes(store: V2Store, n: V2Node): void {
  for (const child of n.children?.values() ?? []) _pushTtlNodes(store, child);
  if (n.expireTime !== PERMANENT) store.ttlHeap.push(n);
}

function _parseNode(raw: _RawNode, parent: V2Node | null): V2Node {
  const path = raw.Path ?? "";
  const expire = raw.ExpireTime === undefined ? PERMANENT : parseGoTime(raw.ExpireTime);
  const created = raw.CreatedIndex ?? 0;
  const n = raw.Children === undefined || raw.Children === null
    ? V2Node.file(path, raw.Value ?? "", created, parent, expire)
    : V2Node.dir(path, created, parent, expire);
  n.modifiedIndex = raw.ModifiedIndex ?? 0;
  n.value = raw.Value ?? "";
  if (raw.Children !== undefined && raw.Children !== null) {
    for (const [name, child] of Object.entries(raw.Children)) {
      n.children!.set(name, _parseNode(child, n));
    }
  }
  return n;
}

function _parseEvent(raw: _RawEvent): V2Event {
  const e: V2Event = {
    action: raw.action ?? "",
    node: raw.node === undefined || raw.node === null
      ? { key: "", modifiedIndex: 0, createdIndex: 0 }
      : _parseExtern(raw.node),
    etcdIndex: 0,
  };
  if (raw.prevNode !== undefined && raw.prevNode !== null) e.prevNode = _parseExtern(raw.prevNode);
  if (raw.refresh === true) e.refresh = true;
  return e;
}

function _parseExtern(raw: _RawNodeExtern): NodeExtern {
  const n: NodeExtern = {
    key: raw.key ?? "",
    modifiedIndex: raw.modifiedIndex ?? 0,
    createdIndex: raw.createdIndex ?? 0,
  };
  if (raw.value !== undefined) n.value = raw.value;
  if (raw.dir === true) n.dir = true;
  if (raw.expiration !== undefined) n.expiration = parseGoTime(raw.expiration);
  if (raw.ttl !== undefined && raw.ttl !== 0) n.ttl = raw.ttl;
  if (raw.nodes !== undefined && raw.nodes !== null) n.nodes = raw.nodes.map(_parseExtern);
  return n;
}
