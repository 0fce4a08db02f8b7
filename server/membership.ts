/**
 * Cluster membership as etcd 3.4 keeps it (`etcdserver/api/membership`): the members with
 * their raft attributes (peer URLs, learner flag) and attributes (name, client URLs), the
 * cluster ID and the cluster version.
 *
 * Persistence, as etcd 3.4 writes it:
 * - backend bucket `members`: key = member ID in hex, value = the member's JSON
 *   `{"id":<uint64>,"peerURLs":[...],"name":"...","clientURLs":[...]}` (`isLearner` only when
 *   true; `name` and `clientURLs` omitted when empty), written in the apply batch;
 * - backend bucket `members_removed`: key = hex ID, value `removed`;
 * - backend bucket `cluster`: key `clusterVersion`, value e.g. `3.4.0`;
 * - the v2 store JSON inside `.snap` files (`/0/members/<hex>/raftAttributes`,
 *   `/0/members/<hex>/attributes`, `/0/version`), which is what etcd and `etcdctl snapshot
 *   restore` read membership back from.
 *
 * @module
 */

import type { Backend } from "../backend/mod.ts";
import type { V2Store } from "../v2store/mod.ts";
import { PERMANENT } from "../v2store/mod.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** Bucket names etcd uses for membership. */
export const MEMBERS_BUCKET: Uint8Array = _encoder.encode("members");
/** Removed members, kept so that a removed ID cannot come back. */
export const MEMBERS_REMOVED_BUCKET: Uint8Array = _encoder.encode("members_removed");
/** The cluster version. */
export const CLUSTER_BUCKET: Uint8Array = _encoder.encode("cluster");
const _CLUSTER_VERSION_KEY = _encoder.encode("clusterVersion");

/** One member of the cluster. */
export interface Member {
  id: bigint;
  peerUrls: string[];
  isLearner: boolean;
  /** Empty until the member has published its attributes. */
  name: string;
  clientUrls: string[];
}

/** Go's encoding/json string escaping (HTML-safe, as `json.Marshal` does). */
function _jsonString(value: string): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(
    /&/g,
    "\\u0026",
  );
}

function _jsonStrings(values: string[]): string {
  return `[${values.map(_jsonString).join(",")}]`;
}

/** The raft attributes as etcd marshals them: `{"peerURLs":[...]}` (+ `isLearner`). */
export function raftAttributesJson(member: Member): string {
  const learner = member.isLearner ? `,"isLearner":true` : "";
  return `{"peerURLs":${_jsonStrings(member.peerUrls)}${learner}}`;
}

/** The attributes as etcd marshals them: `{"name":"...","clientURLs":[...]}`, omitempty. */
export function attributesJson(member: Member): string {
  const parts: string[] = [];
  if (member.name !== "") parts.push(`"name":${_jsonString(member.name)}`);
  if (member.clientUrls.length > 0) parts.push(`"clientURLs":${_jsonStrings(member.clientUrls)}`);
  return `{${parts.join(",")}}`;
}

/** The whole member as etcd marshals `membership.Member` (the ID as a JSON uint64 number). */
export function memberJson(member: Member): string {
  const raft = raftAttributesJson(member).slice(1, -1);
  const attrs = attributesJson(member).slice(1, -1);
  return `{"id":${member.id.toString()},${raft}${attrs === "" ? "" : "," + attrs}}`;
}

/** Parses a member JSON (the ConfChange context, a `members` bucket value). */
export function parseMemberJson(text: string): Member {
  // JSON.parse would round the 64-bit ID: quote it first so that it survives as a string.
  const quoted = text.replace(/"id"\s*:\s*(\d+)/, `"id":"$1"`);
  const raw = JSON.parse(quoted) as {
    id?: string;
    peerURLs?: string[];
    isLearner?: boolean;
    name?: string;
    clientURLs?: string[];
  };
  if (raw.id === undefined) throw new Error(`member JSON without an id: ${text}`);
  return {
    id: BigInt(raw.id),
    peerUrls: raw.peerURLs ?? [],
    isLearner: raw.isLearner === true,
    name: raw.name ?? "",
    clientUrls: raw.clientURLs ?? [],
  };
}

/**
 * etcd's ConfChange context for a promotion (membership.ConfigChangeContext with IsPromote, as
 * etcdserver.PromoteMember marshals it: a Member with only its ID, so `peerURLs` is null).
 */
export function promoteContextJson(id: bigint): string {
  return `{"id":${id.toString()},"peerURLs":null,"isPromote":true}`;
}

/**
 * Parses a ConfChangeAddNode/AddLearnerNode context: the member, and whether it promotes a
 * learner (etcd's ConfigChangeContext.IsPromote) rather than adding a member.
 */
export function parseConfChangeContext(text: string): { member: Member; isPromote: boolean } {
  const member = parseMemberJson(text);
  const quoted = text.replace(/"id"\s*:\s*(\d+)/, `"id":"$1"`);
  const raw = JSON.parse(quoted) as { isPromote?: boolean };
  return { member, isPromote: raw.isPromote === true };
}

/** The cluster as one member sees it. */
export class RaftCluster {
  readonly localId: bigint;
  clusterId: bigint;
  readonly members = new Map<bigint, Member>();
  readonly removed = new Set<bigint>();
  /** The cluster version (`3.4.0` once decided), or undefined before. */
  version: string | undefined;
  /**
   * The v2 store whose `/0` mirrors this cluster (etcd's `cluster.v2store`): every applied
   * membership change is also written there, so that the `.snap` holds it, as etcd's does.
   */
  v2store: V2Store | undefined;

  /** Makes an empty cluster view for the member `localId`. */
  constructor(localId: bigint, clusterId: bigint) {
    this.localId = localId;
    this.clusterId = clusterId;
  }

  /** The local member, if known. */
  local(): Member | undefined {
    return this.members.get(this.localId);
  }

  /** Members sorted by ID, as etcd lists them. */
  sortedMembers(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Adds (or replaces) a member; persists it into `be` when given. */
  addMember(member: Member, be?: Backend): void {
    this.members.set(member.id, member);
    if (this.v2store !== undefined) _v2SaveRaftAttributes(this.v2store, member);
    if (be !== undefined) _saveMember(be, member);
  }

  /** Removes a member; persists the removal into `be` when given. */
  removeMember(id: bigint, be?: Backend): void {
    this.members.delete(id);
    this.removed.add(id);
    if (this.v2store !== undefined) _v2RemoveMember(this.v2store, id);
    if (be === undefined) return;
    const tx = be.batchTx;
    tx.lock();
    try {
      const key = _encoder.encode(id.toString(16));
      tx.unsafeDelete(MEMBERS_BUCKET, key);
      tx.unsafePut(MEMBERS_REMOVED_BUCKET, key, _encoder.encode("removed"));
    } finally {
      tx.unlock();
    }
  }

  /** Sets the published name and client URLs of a member. */
  updateAttributes(id: bigint, name: string, clientUrls: string[], be?: Backend): void {
    const member = this.members.get(id);
    if (member === undefined) return; // etcd ignores attributes of removed members.
    member.name = name;
    member.clientUrls = clientUrls;
    if (this.v2store !== undefined) {
      _v2Set(this.v2store, `/0/members/${id.toString(16)}/attributes`, attributesJson(member));
    }
    if (be !== undefined) _saveMember(be, member);
  }

  /** Sets the cluster version; persists it into `be` when given. */
  setVersion(version: string, be?: Backend): void {
    this.version = version;
    if (this.v2store !== undefined) _v2Set(this.v2store, "/0/version", version);
    if (be === undefined) return;
    const tx = be.batchTx;
    tx.lock();
    try {
      tx.unsafePut(CLUSTER_BUCKET, _CLUSTER_VERSION_KEY, _encoder.encode(version));
    } finally {
      tx.unlock();
    }
  }

  /** Creates the membership buckets if missing (etcd's mustCreateBackendBuckets). */
  static createBuckets(be: Backend): void {
    const tx = be.batchTx;
    tx.lock();
    try {
      tx.unsafeCreateBucket(MEMBERS_BUCKET);
      tx.unsafeCreateBucket(MEMBERS_REMOVED_BUCKET);
      tx.unsafeCreateBucket(CLUSTER_BUCKET);
    } finally {
      tx.unlock();
    }
  }

  /** Loads members, removed IDs and the version from the backend (replacing what is held). */
  loadFromBackend(be: Backend): void {
    const tx = be.readTx();
    this.members.clear();
    tx.unsafeForEach(MEMBERS_BUCKET, (_key, value) => {
      const member = parseMemberJson(_decoder.decode(value));
      this.members.set(member.id, member);
    });
    tx.unsafeForEach(MEMBERS_REMOVED_BUCKET, (key) => {
      this.removed.add(BigInt("0x" + _decoder.decode(key)));
    });
    const version = tx.unsafeRange(CLUSTER_BUCKET, _CLUSTER_VERSION_KEY, undefined, 0);
    const value = version.values[0];
    if (value !== undefined) this.version = _decoder.decode(value);
  }

  /** Loads membership from the v2 store JSON of a `.snap` (as etcd 3.4 recovers it). */
  loadFromV2Json(data: Uint8Array): void {
    const root = JSON.parse(_decoder.decode(data)) as { Root?: _V2Node };
    const zero = root.Root?.Children?.["0"];
    const membersDir = zero?.Children?.["members"];
    this.members.clear();
    for (const [hex, node] of Object.entries(membersDir?.Children ?? {})) {
      const raft = node.Children?.["raftAttributes"]?.Value;
      if (raft === undefined) continue;
      const parsed = parseMemberJson(`{"id":${BigInt("0x" + hex)},${raft.slice(1)}`);
      const attrs = node.Children?.["attributes"]?.Value;
      if (attrs !== undefined) {
        const a = JSON.parse(attrs) as { name?: string; clientURLs?: string[] };
        parsed.name = a.name ?? "";
        parsed.clientUrls = a.clientURLs ?? [];
      }
      this.members.set(parsed.id, parsed);
    }
    for (const hex of Object.keys(zero?.Children?.["removed_members"]?.Children ?? {})) {
      this.removed.add(BigInt("0x" + hex));
    }
    const version = zero?.Children?.["version"]?.Value;
    if (version !== undefined) this.version = version;
  }
}

interface _V2Node {
  Value?: string;
  Children?: Record<string, _V2Node> | null;
}

const _PERMANENT_TTL = { expireTime: PERMANENT };

/**
 * etcd's mustSaveMemberToStore (a create) for a new member, mustUpdateMemberInStore (an
 * update) for a known one: either way one index of the v2 store.
 */
function _v2SaveRaftAttributes(store: V2Store, member: Member): void {
  const path = `/0/members/${member.id.toString(16)}/raftAttributes`;
  const value = raftAttributesJson(member);
  if (store.has(path)) store.update(path, { value, ttl: _PERMANENT_TTL });
  else store.create(path, { dir: false, value, unique: false, ttl: _PERMANENT_TTL });
}

/** etcd's mustDeleteMemberFromStore: the member's directory goes, a removed mark comes. */
function _v2RemoveMember(store: V2Store, id: bigint): void {
  const hex = id.toString(16);
  try {
    store.delete(`/0/members/${hex}`, { dir: true, recursive: true });
  } catch {
    // Not in the store (a member the store never saw): only the mark is written.
  }
  try {
    store.create(`/0/removed_members/${hex}`, {
      dir: false,
      value: "",
      unique: false,
      ttl: _PERMANENT_TTL,
    });
  } catch {
    // Already marked.
  }
}

function _v2Set(store: V2Store, path: string, value: string): void {
  store.set(path, { dir: false, value, ttl: _PERMANENT_TTL });
}

function _saveMember(be: Backend, member: Member): void {
  const tx = be.batchTx;
  tx.lock();
  try {
    tx.unsafePut(
      MEMBERS_BUCKET,
      _encoder.encode(member.id.toString(16)),
      _encoder.encode(memberJson(member)),
    );
  } finally {
    tx.unlock();
  }
}

/**
 * etcd's types.NewURLs checks: a non-empty list of `scheme://host:port` URLs with an http(s)
 * or unix(s) scheme and no path. Returns etcd's error text, or undefined when valid.
 */
export function peerUrlsProblem(texts: readonly string[]): string | undefined {
  if (texts.length === 0) return "no valid URLs given";
  for (const raw of texts) {
    const text = raw.trim();
    const parts = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)/.exec(text);
    const scheme = parts?.[1]?.toLowerCase() ?? "";
    if (!["http", "https", "unix", "unixs"].includes(scheme)) {
      return `URL scheme must be http, https, unix, or unixs: ${text}`;
    }
    const host = parts?.[2] ?? "";
    if (!/^(\[[^\]]*\]|[^:\[\]]*):[^:]*$/.test(host)) {
      return `URL address does not have the form "host:port": ${text}`;
    }
    if ((parts?.[3] ?? "") !== "") return `URL must not contain a path: ${text}`;
  }
  return undefined;
}
