/**
 * Member and cluster IDs, computed exactly as etcd 3.4 computes them.
 *
 * - Member ID (etcdserver/api/membership/member.go, newMember): the peer URLs are sorted as
 *   strings and concatenated, the cluster token is appended, and, when a time is given (a member
 *   added at run time), the decimal Unix seconds too. The ID is the first 8 bytes of the SHA-1 of
 *   that, read big-endian.
 * - Cluster ID (cluster.go, genID): the member IDs sorted ascending, each written as 8 big-endian
 *   bytes, hashed with SHA-1; again the first 8 bytes big-endian.
 *
 * URLs must be given in Go's `url.URL.String()` form, e.g. `http://127.0.0.1:2380` (no trailing
 * slash); {@link goUrlString} turns a WHATWG `URL` into that form.
 *
 * @module
 */

import { createHash } from "node:crypto";

const _ID_BYTES = 8;

/** The first 8 bytes of a SHA-1 digest, read as a big-endian unsigned 64-bit integer. */
function _sha1Prefix(bytes: Uint8Array): bigint {
  const digest = createHash("sha1").update(bytes).digest();
  console.assert(digest.length === 20, "sha1 digest is 20 bytes");
  const view = new DataView(digest.buffer, digest.byteOffset, _ID_BYTES);
  return view.getBigUint64(0, false);
}

/**
 * Computes a member ID from its peer URLs and the cluster token (`--initial-cluster-token`).
 * `now` is only given for members added at run time (etcd's `member add`); bootstrap members
 * are hashed without a time.
 */
export function computeMemberId(peerUrls: string[], clusterToken: string, now?: Date): bigint {
  if (peerUrls.length === 0) throw new Error("a member needs at least one peer URL");
  // Go's sort.Strings compares bytes; UTF-16 order equals byte order for the ASCII of URLs,
  // and peer URLs that are not ASCII are escaped by url.String() before they get here.
  const sorted = [...peerUrls].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let text = sorted.join("") + clusterToken;
  if (now !== undefined) text += String(Math.floor(now.getTime() / 1000));
  const id = _sha1Prefix(new TextEncoder().encode(text));
  return id;
}

/** Computes the cluster ID from the IDs of the bootstrap members (any order). */
export function computeClusterId(memberIds: bigint[]): bigint {
  if (memberIds.length === 0) throw new Error("a cluster needs at least one member");
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const bytes = new Uint8Array(_ID_BYTES * sorted.length);
  const view = new DataView(bytes.buffer);
  sorted.forEach((id, index) => {
    if (id < 0n || id >= 1n << 64n) throw new RangeError(`member ID out of range: ${id}`);
    view.setBigUint64(index * _ID_BYTES, id, false);
  });
  return _sha1Prefix(bytes);
}

/** Formats an ID as etcd prints it: lower-case hex without leading zeros (types.ID.String). */
export function idToHex(id: bigint): string {
  return id.toString(16);
}

/**
 * Formats a URL as Go's `url.URL.String()` would for the URLs etcd accepts
 * (`scheme://host:port`, no path): the WHATWG `href` adds a trailing `/` that Go does not.
 * Caveat: WHATWG `URL` drops a scheme's default port (`http://h:80` -> `http://h`); etcd keeps it.
 */
export function goUrlString(url: URL): string {
  const path = url.pathname === "/" ? "" : url.pathname;
  if (url.protocol === "http:" || url.protocol === "https:") {
    return `${url.protocol}//${url.host}${path}${url.search}`;
  }
  // Non-special schemes (unix, unixs) keep an empty path as empty.
  return `${url.protocol}//${url.host}${url.pathname}${url.search}`;
}
