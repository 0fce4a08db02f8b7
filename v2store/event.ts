/**
 * Events and the external view of nodes (etcd's `Event` and `NodeExtern`), with their JSON as
 * Go's encoding/json writes them: fields in struct order, `omitempty` honoured.
 *
 * @module
 */

import { goJsonString } from "./errors.ts";
import { formatGoTime } from "./time.ts";

/** Event actions. */
export const ActionGet = "get";
export const ActionCreate = "create";
export const ActionSet = "set";
export const ActionUpdate = "update";
export const ActionDelete = "delete";
export const ActionCompareAndSwap = "compareAndSwap";
export const ActionCompareAndDelete = "compareAndDelete";
export const ActionExpire = "expire";

/** A node as clients see it. `value` undefined is Go's nil (omitted); `""` is written. */
export interface NodeExtern {
  key: string;
  value?: string;
  dir?: boolean;
  /** Expire time in nanoseconds, for nodes with a TTL. */
  expiration?: bigint;
  ttl?: number;
  nodes?: NodeExtern[];
  modifiedIndex: number;
  createdIndex: number;
}

/** A change (or a read) of the store. */
export interface V2Event {
  action: string;
  node: NodeExtern;
  prevNode?: NodeExtern;
  /** The store index when the event was made (the X-Etcd-Index header); not in JSON. */
  etcdIndex: number;
  refresh?: boolean;
}

/** A new event for `key` (etcd's newEvent). */
export function newEvent(
  action: string,
  key: string,
  modifiedIndex: number,
  createdIndex: number,
): V2Event {
  return { action, node: { key, modifiedIndex, createdIndex }, etcdIndex: 0 };
}

/** The index of an event: its node's modified index. */
export function eventIndex(e: V2Event): number {
  return e.node.modifiedIndex;
}

/** Whether the event created a node (a create, or a set without a previous node). */
export function isCreated(e: V2Event): boolean {
  return e.action === ActionCreate || (e.action === ActionSet && e.prevNode === undefined);
}

/** A deep copy (etcd's Event.Clone; the refresh flag is not copied, as there). */
export function cloneEvent(e: V2Event): V2Event {
  const copy: V2Event = { action: e.action, node: cloneNodeExtern(e.node), etcdIndex: e.etcdIndex };
  if (e.prevNode !== undefined) copy.prevNode = cloneNodeExtern(e.prevNode);
  return copy;
}

/** A deep copy of a node view. */
export function cloneNodeExtern(n: NodeExtern): NodeExtern {
  const copy: NodeExtern = { ...n };
  if (n.nodes !== undefined) copy.nodes = n.nodes.map(cloneNodeExtern);
  return copy;
}

/** Options of the JSON writers. */
export interface JsonOptions {
  /** A prefix removed from every key (the HTTP layer strips `/1`). */
  trimPrefix?: string;
  /**
   * Whether to write the refresh flag. etcd's HTTP layer copies events with Event.Clone,
   * which drops it, so clients never see it; the `.snap` history keeps it.
   */
  refresh?: boolean;
}

/** A node view as JSON. */
export function nodeExternJson(n: NodeExtern, options: JsonOptions = {}): string {
  const parts: string[] = [];
  const prefix = options.trimPrefix ?? "";
  const key = prefix !== "" && n.key.startsWith(prefix) ? n.key.slice(prefix.length) : n.key;
  if (key !== "") parts.push(`"key":${goJsonString(key)}`);
  if (n.value !== undefined) parts.push(`"value":${goJsonString(n.value)}`);
  if (n.dir === true) parts.push(`"dir":true`);
  if (n.expiration !== undefined) parts.push(`"expiration":"${formatGoTime(n.expiration)}"`);
  if (n.ttl !== undefined && n.ttl !== 0) parts.push(`"ttl":${n.ttl}`);
  if (n.nodes !== undefined && n.nodes.length > 0) {
    parts.push(`"nodes":[${n.nodes.map((c) => nodeExternJson(c, options)).join(",")}]`);
  }
  if (n.modifiedIndex !== 0) parts.push(`"modifiedIndex":${n.modifiedIndex}`);
  if (n.createdIndex !== 0) parts.push(`"createdIndex":${n.createdIndex}`);
  return `{${parts.join(",")}}`;
}

/** An event as JSON (etcd writes it with a trailing newline; not added here). */
export function eventJson(e: V2Event, options: JsonOptions = {}): string {
  let text = `{"action":${goJsonString(e.action)},"node":${nodeExternJson(e.node, options)}`;
  if (e.prevNode !== undefined) text += `,"prevNode":${nodeExternJson(e.prevNode, options)}`;
  if (e.refresh === true && options.refresh !== false) text += `,"refresh":true`;
  return text + "}";
}
