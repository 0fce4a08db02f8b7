/**
 * The v2 store (etcd 3.4 `etcdserver/api/v2store`): a tree of directories and files under
 * the namespaces `/0` (membership) and `/1` (the v2 keys), changed only by the applier, so that
 * every member holds the same tree at the same raft index. Each change bumps `currentIndex`
 * and becomes an event (history and watchers). TTL nodes expire when the applier runs
 * `deleteExpiredKeys` with the time carried by a SYNC entry, never by a local timer.
 *
 * The store is pure: no I/O; the clock (for the TTLs shown to readers) is injected.
 *
 * @module
 */

import {
  ActionCompareAndDelete,
  ActionCompareAndSwap,
  ActionCreate,
  ActionDelete,
  ActionExpire,
  ActionGet,
  ActionSet,
  ActionUpdate,
  newEvent,
  type V2Event,
} from "./event.ts";
import {
  EcodeDirNotEmpty,
  EcodeKeyNotFound,
  EcodeNodeExist,
  EcodeNotDir,
  EcodeNotFile,
  EcodeRootROnly,
  EcodeTestFailed,
  V2Error,
} from "./errors.ts";
import { V2Node } from "./node.ts";
import { splitPath, storePath } from "./path.ts";
import { Stats } from "./stats.ts";
import { MIN_EXPIRE_TIME_NS, PERMANENT, wallClockNs } from "./time.ts";
import { TtlHeap } from "./ttl_heap.ts";
import { EVENT_HISTORY_CAPACITY, type Watcher, WatcherHub } from "./watcher_hub.ts";

/** etcd's store format version. */
export const STORE_VERSION = 2;
/** The membership namespace. */
export const CLUSTER_PREFIX = "/0";
/** The namespace of the v2 keys clients see. */
export const KEYS_PREFIX = "/1";

/** TTL options of a write: an expire time in ns (PERMANENT for none) and the refresh flag. */
export interface TtlOptions {
  expireTime: bigint;
  refresh?: boolean;
}

/** Options of `V2Store`. */
export interface V2StoreOptions {
  /** The namespaces made at the root (etcd: `/0` and `/1`); read-only themselves. */
  namespaces?: string[];
  /** The clock, in ns since the epoch: only used for the TTLs shown to readers. */
  now?: () => bigint;
}

/** The store. */
export class V2Store {
  root: V2Node;
  hub: WatcherHub;
  currentIndex = 0;
  stats: Stats = new Stats();
  currentVersion = STORE_VERSION;
  readonly ttlHeap: TtlHeap<V2Node> = new TtlHeap();
  readonly #now: () => bigint;
  readonly #readonly: Set<string>;

  /** A store with `/0` and `/1` unless other namespaces are named. */
  constructor(options: V2StoreOptions = {}) {
    const namespaces = options.namespaces ?? [CLUSTER_PREFIX, KEYS_PREFIX];
    this.#now = options.now ?? wallClockNs;
    this.root = V2Node.dir("/", 0, null, PERMANENT);
    for (const ns of namespaces) {
      this.root.children!.set(ns.replace(/^\//, ""), V2Node.dir(ns, 0, this.root, PERMANENT));
    }
    this.hub = new WatcherHub(EVENT_HISTORY_CAPACITY);
    this.#readonly = new Set([...namespaces, "/"]);
  }

  /** The clock the TTLs are computed against. */
  now(): bigint {
    return this.#now();
  }

  /** Whether a node exists at `nodePath` (not counted in the stats). */
  has(nodePath: string): boolean {
    try {
      this.#internalGet(nodePath);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads a node (with its children when a directory, recursively when asked). */
  get(nodePath: string, recursive: boolean, sorted: boolean): V2Event {
    try {
      const n = this.#internalGet(nodePath);
      const e = newEvent(ActionGet, nodePath, n.modifiedIndex, n.createdIndex);
      e.etcdIndex = this.currentIndex;
      const now = this.#now();
      if (n.isDir()) {
        e.node.dir = true;
        e.node.nodes = n.listExtern(recursive, sorted, now);
      } else {
        e.node.value = n.value;
      }
      Object.assign(e.node, n.expirationAndTtl(now));
      this.stats.inc("getsSuccess");
      return e;
    } catch (error) {
      this.stats.inc("getsFail");
      throw error;
    }
  }

  /** Creates a node; fails if it exists. `unique` appends a 20-digit in-order name. */
  create(
    nodePath: string,
    options: { dir: boolean; value: string; unique: boolean; ttl: TtlOptions },
  ): V2Event {
    try {
      const e = this.#internalCreate(nodePath, options.dir, options.value, {
        unique: options.unique,
        replace: false,
        expireTime: options.ttl.expireTime,
        action: ActionCreate,
      });
      e.etcdIndex = this.currentIndex;
      this.hub.notify(e);
      this.stats.inc("createSuccess");
      return e;
    } catch (error) {
      this.stats.inc("createFail");
      throw error;
    }
  }

  /** Creates or replaces a node (a directory cannot be replaced). */
  set(nodePath: string, options: { dir: boolean; value: string; ttl: TtlOptions }): V2Event {
    try {
      const e = this.#set(nodePath, options);
      this.stats.inc("setsSuccess");
      return e;
    } catch (error) {
      this.stats.inc("setsFail");
      throw error;
    }
  }

  #set(nodePath: string, options: { dir: boolean; value: string; ttl: TtlOptions }): V2Event {
    let existing: V2Node | undefined;
    let missing: V2Error | undefined;
    try {
      existing = this.#internalGet(nodePath);
    } catch (error) {
      if (!(error instanceof V2Error) || error.errorCode !== EcodeKeyNotFound) throw error;
      missing = error;
    }
    let value = options.value;
    if (options.ttl.refresh === true) {
      if (existing === undefined) throw missing!;
      value = existing.value;
    }
    const e = this.#internalCreate(nodePath, options.dir, value, {
      unique: false,
      replace: true,
      expireTime: options.ttl.expireTime,
      action: ActionSet,
    });
    e.etcdIndex = this.currentIndex;
    if (existing !== undefined) {
      // etcd's prevNode of a set: the old file as a Get sees it, under the path as given.
      const p = newEvent(ActionGet, nodePath, existing.modifiedIndex, existing.createdIndex);
      p.node.value = existing.value;
      Object.assign(p.node, existing.expirationAndTtl(this.#now()));
      e.prevNode = p.node;
    }
    this.#notifyOrRecord(e, options.ttl.refresh === true);
    return e;
  }

  /** Compares value and/or index, then swaps the value (files only). */
  compareAndSwap(
    nodePath: string,
    options: { prevValue: string; prevIndex: number; value: string; ttl: TtlOptions },
  ): V2Event {
    try {
      const e = this.#compareAndSwap(nodePath, options);
      this.stats.inc("compareAndSwapSuccess");
      return e;
    } catch (error) {
      this.stats.inc("compareAndSwapFail");
      throw error;
    }
  }

  #compareAndSwap(
    rawPath: string,
    options: { prevValue: string; prevIndex: number; value: string; ttl: TtlOptions },
  ): V2Event {
    const nodePath = storePath(rawPath);
    if (this.#readonly.has(nodePath)) throw new V2Error(EcodeRootROnly, "/", this.currentIndex);
    const n = this.#internalGet(nodePath);
    if (n.isDir()) throw new V2Error(EcodeNotFile, nodePath, this.currentIndex);
    this.#checkCompare(n, options.prevValue, options.prevIndex);
    const value = options.ttl.refresh === true ? n.value : options.value;
    this.currentIndex++;
    const e = newEvent(ActionCompareAndSwap, nodePath, this.currentIndex, n.createdIndex);
    e.etcdIndex = this.currentIndex;
    e.prevNode = n.repr(false, false, this.#now());
    n.value = value;
    n.modifiedIndex = this.currentIndex;
    this.#updateTtl(n, options.ttl.expireTime);
    e.node.value = value;
    Object.assign(e.node, n.expirationAndTtl(this.#now()));
    this.#notifyOrRecord(e, options.ttl.refresh === true);
    return e;
  }

  #checkCompare(n: V2Node, prevValue: string, prevIndex: number): void {
    const { ok, which } = n.compare(prevValue, prevIndex);
    if (ok) return;
    let cause: string;
    if (which === "index") cause = `[${prevIndex} != ${n.modifiedIndex}]`;
    else if (which === "value") cause = `[${prevValue} != ${n.value}]`;
    else cause = `[${prevValue} != ${n.value}] [${prevIndex} != ${n.modifiedIndex}]`;
    throw new V2Error(EcodeTestFailed, cause, this.currentIndex);
  }

  /** Deletes a node; a directory only with `dir`, a non-empty one only with `recursive`. */
  delete(nodePath: string, options: { dir: boolean; recursive: boolean }): V2Event {
    try {
      const e = this.#delete(nodePath, options.dir || options.recursive, options.recursive);
      this.stats.inc("deleteSuccess");
      return e;
    } catch (error) {
      this.stats.inc("deleteFail");
      throw error;
    }
  }

  #delete(rawPath: string, dir: boolean, recursive: boolean): V2Event {
    const nodePath = storePath(rawPath);
    if (this.#readonly.has(nodePath)) throw new V2Error(EcodeRootROnly, "/", this.currentIndex);
    const n = this.#internalGet(nodePath);
    const nextIndex = this.currentIndex + 1;
    const e = newEvent(ActionDelete, nodePath, nextIndex, n.createdIndex);
    e.etcdIndex = nextIndex;
    e.prevNode = n.repr(false, false, this.#now());
    if (n.isDir()) e.node.dir = true;
    this.#remove(n, dir, recursive, (p) => this.hub.notifyWatchers(e, p, true));
    this.currentIndex++;
    this.hub.notify(e);
    return e;
  }

  /** Compares value and/or index, then deletes the file. */
  compareAndDelete(nodePath: string, options: { prevValue: string; prevIndex: number }): V2Event {
    try {
      const e = this.#compareAndDelete(nodePath, options.prevValue, options.prevIndex);
      this.stats.inc("compareAndDeleteSuccess");
      return e;
    } catch (error) {
      this.stats.inc("compareAndDeleteFail");
      throw error;
    }
  }

  #compareAndDelete(rawPath: string, prevValue: string, prevIndex: number): V2Event {
    const nodePath = storePath(rawPath);
    const n = this.#internalGet(nodePath);
    if (n.isDir()) throw new V2Error(EcodeNotFile, nodePath, this.currentIndex);
    this.#checkCompare(n, prevValue, prevIndex);
    this.currentIndex++;
    const e = newEvent(ActionCompareAndDelete, nodePath, this.currentIndex, n.createdIndex);
    e.etcdIndex = this.currentIndex;
    e.prevNode = n.repr(false, false, this.#now());
    this.#remove(n, false, false, (p) => this.hub.notifyWatchers(e, p, true));
    this.hub.notify(e);
    return e;
  }

  /** Updates the value and/or TTL of an existing node (a directory: TTL only). */
  update(nodePath: string, options: { value: string; ttl: TtlOptions }): V2Event {
    try {
      const e = this.#update(nodePath, options.value, options.ttl);
      this.stats.inc("updateSuccess");
      return e;
    } catch (error) {
      this.stats.inc("updateFail");
      throw error;
    }
  }

  #update(rawPath: string, newValue: string, ttl: TtlOptions): V2Event {
    const nodePath = storePath(rawPath);
    if (this.#readonly.has(nodePath)) throw new V2Error(EcodeRootROnly, "/", this.currentIndex);
    const nextIndex = this.currentIndex + 1;
    const n = this.#internalGet(nodePath);
    if (n.isDir() && newValue.length !== 0) {
      throw new V2Error(EcodeNotFile, nodePath, this.currentIndex);
    }
    const value = ttl.refresh === true ? n.value : newValue;
    const e = newEvent(ActionUpdate, nodePath, nextIndex, n.createdIndex);
    e.etcdIndex = nextIndex;
    e.prevNode = n.repr(false, false, this.#now());
    if (!n.isDir()) {
      n.value = value;
      n.modifiedIndex = nextIndex;
      e.node.value = value;
    } else {
      e.node.dir = true;
    }
    this.#updateTtl(n, ttl.expireTime);
    Object.assign(e.node, n.expirationAndTtl(this.#now()));
    this.#notifyOrRecord(e, ttl.refresh === true);
    this.currentIndex = nextIndex;
    return e;
  }

  /**
   * Starts a watch of `key` from `sinceIndex` (0: the next change). Throws
   * EcodeEventIndexCleared when the index is older than the event history.
   */
  watch(key: string, options: { recursive: boolean; stream: boolean; sinceIndex: number }) {
    const since = options.sinceIndex === 0 ? this.currentIndex + 1 : options.sinceIndex;
    return this.hub.watch(storePath(key), {
      recursive: options.recursive,
      stream: options.stream,
      index: since,
      storeIndex: this.currentIndex,
    }) as Watcher;
  }

  /** Removes every node whose expire time is at or before `cutoffNs` (a SYNC entry's time). */
  deleteExpiredKeys(cutoffNs: bigint): void {
    for (;;) {
      const n = this.ttlHeap.top();
      if (n === undefined || n.expireTime > cutoffNs) break;
      this.currentIndex++;
      const e = newEvent(ActionExpire, n.path, this.currentIndex, n.createdIndex);
      e.etcdIndex = this.currentIndex;
      e.prevNode = n.repr(false, false, this.#now());
      if (n.isDir()) e.node.dir = true;
      this.ttlHeap.pop();
      this.#remove(n, true, true, (p) => this.hub.notifyWatchers(e, p, true));
      this.stats.inc("expireCount");
      this.hub.notify(e);
    }
  }

  /** Whether any node has a TTL (the leader sends SYNC entries only then). */
  hasTtlKeys(): boolean {
    return this.ttlHeap.length > 0;
  }

  /** The counters as `/v2/stats/store` serves them. */
  jsonStats(): string {
    this.stats.counts.watchers = this.hub.count;
    return this.stats.toJson();
  }

  // -- internals --------------------------------------------------------------------------

  #notifyOrRecord(e: V2Event, refresh: boolean): void {
    if (!refresh) {
      this.hub.notify(e);
      return;
    }
    e.refresh = true;
    this.hub.add(e);
  }

  #internalCreate(
    rawPath: string,
    dir: boolean,
    value: string,
    options: { unique: boolean; replace: boolean; expireTime: bigint; action: string },
  ): V2Event {
    const currIndex = this.currentIndex;
    const nextIndex = currIndex + 1;
    let nodePath = rawPath;
    if (options.unique) nodePath += "/" + String(nextIndex).padStart(20, "0");
    nodePath = storePath(nodePath);
    if (this.#readonly.has(nodePath)) throw new V2Error(EcodeRootROnly, "/", currIndex);
    const expireTime = options.expireTime < MIN_EXPIRE_TIME_NS ? PERMANENT : options.expireTime;
    const [dirName, nodeName] = splitPath(nodePath);
    let d: V2Node;
    try {
      d = this.#walk(dirName, (parent, name) => this.#checkDir(parent, name));
    } catch (error) {
      if (error instanceof V2Error) {
        // etcd counts a failed walk as a failed set, whatever the operation.
        this.stats.inc("setsFail");
        error.index = currIndex;
      }
      throw error;
    }
    const e = newEvent(options.action, nodePath, nextIndex, nextIndex);
    const existing = d.children!.get(nodeName);
    if (existing !== undefined) {
      if (!options.replace) throw new V2Error(EcodeNodeExist, nodePath, currIndex);
      if (existing.isDir()) throw new V2Error(EcodeNotFile, nodePath, currIndex);
      e.prevNode = existing.repr(false, false, this.#now());
      this.#remove(existing, false, false, undefined);
    }
    let n: V2Node;
    if (!dir) {
      e.node.value = value;
      n = V2Node.file(nodePath, value, nextIndex, d, expireTime);
    } else {
      e.node.dir = true;
      n = V2Node.dir(nodePath, nextIndex, d, expireTime);
    }
    d.children!.set(nodeName, n);
    if (!n.isPermanent()) {
      this.ttlHeap.push(n);
      Object.assign(e.node, n.expirationAndTtl(this.#now()));
    }
    this.currentIndex = nextIndex;
    return e;
  }

  #internalGet(rawPath: string): V2Node {
    const nodePath = storePath(rawPath);
    return this.#walk(nodePath, (parent, name) => {
      if (parent.children === null) {
        throw new V2Error(EcodeNotDir, parent.path, this.currentIndex);
      }
      const child = parent.children.get(name);
      if (child !== undefined) return child;
      const joined = parent.path === "/" ? `/${name}` : `${parent.path}/${name}`;
      throw new V2Error(EcodeKeyNotFound, joined, this.currentIndex);
    });
  }

  #walk(nodePath: string, step: (parent: V2Node, name: string) => V2Node): V2Node {
    const components = nodePath.split("/");
    let current = this.root;
    for (let i = 1; i < components.length; i++) {
      const name = components[i]!;
      if (name.length === 0) return current;
      current = step(current, name);
    }
    return current;
  }

  #checkDir(parent: V2Node, name: string): V2Node {
    const existing = parent.children!.get(name);
    if (existing !== undefined) {
      if (existing.isDir()) return existing;
      throw new V2Error(EcodeNotDir, existing.path, this.currentIndex);
    }
    const path = parent.path === "/" ? `/${name}` : `${parent.path}/${name}`;
    const n = V2Node.dir(path, this.currentIndex + 1, parent, PERMANENT);
    parent.children!.set(name, n);
    return n;
  }

  #remove(
    n: V2Node,
    dir: boolean,
    recursive: boolean,
    callback: ((path: string) => void) | undefined,
  ): void {
    const name = n.path.slice(n.path.lastIndexOf("/") + 1);
    if (n.children === null) {
      if (n.parent !== null && n.parent.children?.get(name) === n) n.parent.children.delete(name);
      callback?.(n.path);
      if (!n.isPermanent()) this.ttlHeap.remove(n);
      return;
    }
    if (!dir) throw new V2Error(EcodeNotFile, n.path, this.currentIndex);
    if (n.children.size !== 0 && !recursive) {
      throw new V2Error(EcodeDirNotEmpty, n.path, this.currentIndex);
    }
    for (const child of [...n.children.values()]) this.#remove(child, true, true, callback);
    if (n.parent !== null && n.parent.children?.get(name) === n) {
      n.parent.children.delete(name);
      callback?.(n.path);
      if (!n.isPermanent()) this.ttlHeap.remove(n);
    }
  }

  #updateTtl(n: V2Node, expireTime: bigint): void {
    if (!n.isPermanent()) {
      if (expireTime === PERMANENT) {
        n.expireTime = PERMANENT;
        this.ttlHeap.remove(n);
        return;
      }
      n.expireTime = expireTime;
      this.ttlHeap.update(n);
      return;
    }
    if (expireTime === PERMANENT) return;
    n.expireTime = expireTime;
    this.ttlHeap.push(n);
  }
}
