/**
 * A node of the v2 tree (etcd's v2store node): a file with a value, or a directory with
 * children; a path, created and modified indexes and an expire time (PERMANENT for none).
 *
 * @module
 */

import type { NodeExtern } from "./event.ts";
import { PERMANENT } from "./time.ts";

/** One node. `children` is null for a file. */
export class V2Node {
  path: string;
  createdIndex: number;
  modifiedIndex: number;
  parent: V2Node | null;
  expireTime: bigint;
  value: string;
  children: Map<string, V2Node> | null;
  /** The node's slot in the TTL heap (-1 when not there). */
  heapIndex = -1;

  private constructor(
    path: string,
    index: number,
    parent: V2Node | null,
    expireTime: bigint,
    children: Map<string, V2Node> | null,
  ) {
    this.path = path;
    this.createdIndex = index;
    this.modifiedIndex = index;
    this.parent = parent;
    this.expireTime = expireTime;
    this.value = "";
    this.children = children;
  }

  /** A file node. */
  static file(
    path: string,
    value: string,
    index: number,
    parent: V2Node | null,
    expireTime: bigint,
  ): V2Node {
    const node = new V2Node(path, index, parent, expireTime, null);
    node.value = value;
    return node;
  }

  /** A directory node. */
  static dir(path: string, index: number, parent: V2Node | null, expireTime: bigint): V2Node {
    return new V2Node(path, index, parent, expireTime, new Map());
  }

  /** Whether this is a directory. */
  isDir(): boolean {
    return this.children !== null;
  }

  /** Whether the last path component starts with `_` (hidden from listings). */
  isHidden(): boolean {
    const name = this.path.slice(this.path.lastIndexOf("/") + 1);
    return name.startsWith("_");
  }

  /** Whether the node has no TTL. */
  isPermanent(): boolean {
    return this.expireTime === PERMANENT;
  }

  /** The expiration and the TTL in whole seconds, rounded up (etcd's expirationAndTTL). */
  expirationAndTtl(nowNs: bigint): { expiration?: bigint; ttl?: number } {
    if (this.isPermanent()) return {};
    const left = this.expireTime - nowNs;
    let ttl = left / 1_000_000_000n;
    if (left % 1_000_000_000n > 0n) ttl++;
    return { expiration: this.expireTime, ttl: Number(ttl) };
  }

  /** Compares value and index (empty value and index 0 match anything). */
  compare(prevValue: string, prevIndex: number): { ok: boolean; which: CompareResult } {
    const indexMatch = prevIndex === 0 || this.modifiedIndex === prevIndex;
    const valueMatch = prevValue === "" || this.value === prevValue;
    let which: CompareResult = "match";
    if (!valueMatch && !indexMatch) which = "neither";
    else if (!valueMatch) which = "value";
    else if (!indexMatch) which = "index";
    return { ok: valueMatch && indexMatch, which };
  }

  /** The external view; children too when `recursive`, sorted by key when `sorted`. */
  repr(recursive: boolean, sorted: boolean, nowNs: bigint): NodeExtern {
    const extern: NodeExtern = {
      key: this.path,
      modifiedIndex: this.modifiedIndex,
      createdIndex: this.createdIndex,
    };
    if (this.children === null) {
      extern.value = this.value;
    } else {
      extern.dir = true;
    }
    Object.assign(extern, this.expirationAndTtl(nowNs));
    if (this.children !== null && recursive) extern.nodes = this.listExtern(true, sorted, nowNs);
    return extern;
  }

  /** The visible children's views (etcd's loadInternalNode for a directory). */
  listExtern(recursive: boolean, sorted: boolean, nowNs: bigint): NodeExtern[] {
    const nodes: NodeExtern[] = [];
    for (const child of this.children?.values() ?? []) {
      if (child.isHidden()) continue;
      nodes.push(child.repr(recursive, sorted, nowNs));
    }
    if (sorted) nodes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return nodes;
  }

  /** A deep copy without parent links fixed up (used by Save). */
  clone(): V2Node {
    const copy = this.children === null
      ? V2Node.file(this.path, this.value, this.createdIndex, this.parent, this.expireTime)
      : V2Node.dir(this.path, this.createdIndex, this.parent, this.expireTime);
    copy.modifiedIndex = this.modifiedIndex;
    if (this.children !== null) {
      for (const [name, child] of this.children) copy.children!.set(name, child.clone());
    }
    return copy;
  }
}

/** Which part of a compare failed. */
export type CompareResult = "match" | "index" | "value" | "neither";
