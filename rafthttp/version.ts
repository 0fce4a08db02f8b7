/**
 * Peer headers and the version compatibility rule of etcd 3.4's rafthttp (util.go, http.go).
 *
 * Every request between members carries:
 * | header                | value                                               |
 * |-----------------------|-----------------------------------------------------|
 * | X-Server-From         | sender's member ID, hex                             |
 * | X-Server-Version      | sender's server version (3.4.23)                    |
 * | X-Min-Cluster-Version | the oldest cluster version the sender accepts (3.0.0) |
 * | X-Etcd-Cluster-ID     | sender's cluster ID, hex                            |
 * | X-PeerURLs            | sender's peer URLs, comma-separated                 |
 * | X-Raft-To             | streams only: the member ID the stream is meant for |
 *
 * @module
 */

/** The server version this transport speaks as. */
export const SERVER_VERSION = "3.4.23";
/** The oldest cluster version a member of this version may join. */
export const MIN_CLUSTER_VERSION = "3.0.0";
/** The cluster version reported by `/version` before the server decides one. */
export const CLUSTER_VERSION = "3.4.0";

/** Header names, in Go's canonical form. */
export const HEADER_SERVER_FROM = "X-Server-From";
/** Sender's server version. */
export const HEADER_SERVER_VERSION = "X-Server-Version";
/** Sender's minimum cluster version. */
export const HEADER_MIN_CLUSTER_VERSION = "X-Min-Cluster-Version";
/** Cluster ID (hex), on requests and responses. */
export const HEADER_CLUSTER_ID = "X-Etcd-Cluster-ID";
/** Sender's peer URLs. */
export const HEADER_PEER_URLS = "X-PeerURLs";
/** Stream target member ID (hex). */
export const HEADER_RAFT_TO = "X-Raft-To";

/** The error texts a peer answers 412 Precondition Failed with (http.go). */
export const ERROR_INCOMPATIBLE_VERSION = "incompatible version";
/** The body of a 412 for a request from another cluster. */
export const ERROR_CLUSTER_ID_MISMATCH = "cluster ID mismatch";

/** A member ID as etcd prints it (types.ID.String: hex, no padding). */
export function idToHex(id: bigint): string {
  return id.toString(16);
}

/** Parses a member ID as etcd does (types.IDFromString: base-16 uint64). */
export function idFromHex(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt("0x" + text);
}

function _majorMinor(version: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)\.\d+/.exec(version);
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2])];
}

function _compareMajorMinor(a: [number, number], b: [number, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/**
 * Checks a peer's versions against ours (util.go checkVersionCompatibility): the peer's server
 * must not be older than our minimum cluster version, and its minimum cluster version must not
 * be newer than our server. Missing headers count as 2.0.0, as in etcd. Returns a reason on
 * failure, `undefined` when compatible.
 */
export function versionIncompatibility(headers: Headers): string | undefined {
  const remoteServer = _majorMinor(headers.get(HEADER_SERVER_VERSION) ?? "2.0.0");
  const remoteMinCluster = _majorMinor(headers.get(HEADER_MIN_CLUSTER_VERSION) ?? "2.0.0");
  if (remoteServer === undefined || remoteMinCluster === undefined) return "unparsable version";
  const localServer = _majorMinor(SERVER_VERSION)!;
  const localMinCluster = _majorMinor(MIN_CLUSTER_VERSION)!;
  if (_compareMajorMinor(remoteServer, localMinCluster) < 0) return "remote version is too low";
  if (_compareMajorMinor(remoteMinCluster, localServer) > 0) return "local version is too low";
  return undefined;
}

/** The headers every request from `from` in cluster `clusterId` carries. */
export function peerRequestHeaders(
  options: { from: bigint; clusterId: bigint; urls: readonly string[] },
): Record<string, string> {
  const headers: Record<string, string> = {
    [HEADER_SERVER_FROM]: idToHex(options.from),
    [HEADER_SERVER_VERSION]: SERVER_VERSION,
    [HEADER_MIN_CLUSTER_VERSION]: MIN_CLUSTER_VERSION,
    [HEADER_CLUSTER_ID]: idToHex(options.clusterId),
  };
  if (options.urls.length > 0) headers[HEADER_PEER_URLS] = options.urls.join(",");
  return headers;
}
