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
    if (be !== undefined) _saveMember(be, member);
  }

  /** Removes a member; persists the removal into `be` when given. */
  removeMember(id: bigint, be?: Backend): void {
    this.members.delete(id);
    this.removed.add(id);
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
    if (be !== undefined) _saveMember(be, member);
  }

  /** Sets the cluster version; persists it into `be` when given. */
  setVersion(version: string, be?: Backend): void {
    this.version = version;
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

const _ZERO_TIME = "0001-01-01T00:00:00Z";

function _v2Leaf(path: string, index: number, value: string): string {
  return `{"Path":${_jsonString(path)},"CreatedIndex":${index},"ModifiedIndex":${index},` +
    `"ExpireTime":"${_ZERO_TIME}","Value":${_jsonString(value)},"Children":null}`;
}

function _v2Dir(path: string, index: number, children: [string, string][]): string {
  const body = children.map(([name, node]) => `${_jsonString(name)}:${node}`).join(",");
  return `{"Path":${_jsonString(path)},"CreatedIndex":${index},"ModifiedIndex":${index},` +
    `"ExpireTime":"${_ZERO_TIME}","Value":"","Children":{${body}}}`;
}

/**
 * The v2 store JSON etcd 3.4 puts into a `.snap` (`v2store.Save`), holding the membership part
 * only: the root with `/0` (members, removed members, version) and `/1` (the empty v2 keys
 * directory), an empty event history and zero statistics. etcd and `etcdctl snapshot restore`
 * recover membership from exactly these paths.
 */
export function v2StoreJson(cluster: RaftCluster, currentIndex: number): Uint8Array {
  const members: [string, string][] = cluster.sortedMembers().map((m) => {
    const hex = m.id.toString(16);
    const base = `/0/members/${hex}`;
    const children: [string, string][] = [];
    if (m.name !== "" || m.clientUrls.length > 0) {
      children.push(["attributes", _v2Leaf(`${base}/attributes`, 1, attributesJson(m))]);
    }
    children.push(["raftAttributes", _v2Leaf(`${base}/raftAttributes`, 1, raftAttributesJson(m))]);
    return [hex, _v2Dir(base, 1, children)];
  });
  const zeroChildren: [string, string][] = [["members", _v2Dir("/0/members", 1, members)]];
  if (cluster.removed.size > 0) {
    const removed: [string, string][] = [...cluster.removed].map((id) => {
      const hex = id.toString(16);
      return [hex, _v2Leaf(`/0/removed_members/${hex}`, 1, "")];
    });
    zeroChildren.push(["removed_members", _v2Dir("/0/removed_members", 1, removed)]);
  }
  if (cluster.version !== undefined) {
    zeroChildren.push(["version", _v2Leaf("/0/version", 1, cluster.version)]);
  }
  const root = _v2Dir("/", 0, [["0", _v2Dir("/0", 0, zeroChildren)], ["1", _v2Dir("/1", 0, [])]]);
  const stats = `{"getsSuccess":0,"getsFail":0,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,` +
    `"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":0,` +
    `"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,` +
    `"compareAndDeleteFail":0,"expireCount":0,"watchers":0}`;
  const events = new Array<string>(1000).fill("null").join(",");
  const hub = `{"EventHistory":{"Queue":{"Events":[${events}],"Size":0,"Front":0,"Back":0,` +
    `"Capacity":1000},"StartIndex":0,"LastIndex":0}}`;
  const text = `{"Root":${root},"WatcherHub":${hub},"CurrentIndex":${currentIndex},` +
    `"Stats":${stats},"CurrentVersion":2}`;
  return _encoder.encode(text);
}
