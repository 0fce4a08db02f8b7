/**
 * The two stream kinds and their URL paths (etcd stream.go): `/raft/stream/msgapp/<from>` carries
 * MsgApp in the msgappv2 encoding, `/raft/stream/message/<from>` every other message framed by
 * length. `<from>` is the hex ID of the member that dials (and then reads).
 *
 * @module
 */

/** A stream kind. */
export type StreamType = "msgappv2" | "message";

/** Prefix of every rafthttp path. */
export const RAFT_PREFIX = "/raft";
/** Liveness probe path. */
export const PROBING_PREFIX = "/raft/probing";
/** Stream paths start with this. */
export const RAFT_STREAM_PREFIX = "/raft/stream";
/** Snapshot POST path. */
export const RAFT_SNAPSHOT_PREFIX = "/raft/snapshot";

/** The path prefix of a stream kind, without the member ID. */
export function streamEndpoint(type: StreamType): string {
  return type === "msgappv2" ? `${RAFT_STREAM_PREFIX}/msgapp` : `${RAFT_STREAM_PREFIX}/message`;
}

/** The stream kind served at `dir` (the path without its last element), if any. */
export function streamTypeOfEndpoint(dir: string): StreamType | undefined {
  if (dir === streamEndpoint("msgappv2")) return "msgappv2";
  if (dir === streamEndpoint("message")) return "message";
  return undefined;
}

/** How etcd names the stream kind in logs. */
export function streamTypeName(type: StreamType): string {
  return type === "msgappv2" ? "stream MsgApp v2" : "stream Message";
}
